using HaClient.Postgres;
using Npgsql;
using Xunit;

namespace HaClient.Postgres.Tests.Unit;

/// <summary>The settings HaClient applies to each host's pool when the connection string leaves them out (no server is
/// needed: creating a cluster opens nothing).</summary>
public class PoolSettingsTests
{
    private static async Task<NpgsqlConnectionStringBuilder> PoolSettingsAsync(string extra, Action<PostgresClusterOptions>? configure = null)
    {
        var o = new PostgresClusterOptions
        {
            // Port 1 on loopback: nothing listens, the monitor's probes fail at once.
            ConnectionString = "Host=127.0.0.1:1;Username=u;Password=p;Database=d" + extra,
            Resilience = { OperationTimeout = TimeSpan.FromMilliseconds(2500) },
        };
        configure?.Invoke(o);
        await using var cluster = PostgresCluster.Create(o);
        return new NpgsqlConnectionStringBuilder(cluster.GetPool(0).ConnectionString);
    }

    [Fact]
    public async Task Left_out_settings_get_the_budget_s_timeouts_no_cancel_wait_and_the_connection_cap()
    {
        // Failed on the old code: NpgsqlConnectionStringBuilder.ContainsKey is true for every known keyword, so none of
        // these was ever applied.
        var b = await PoolSettingsAsync(string.Empty);
        Assert.Equal(3, b.Timeout);
        // No Npgsql command timeout: HaClient's budget bounds the call (its timeout path cancels on a pool thread).
        Assert.Equal(0, b.CommandTimeout);
        Assert.Equal(-1, b.CancellationTimeout);
        Assert.Equal(10, b.TcpKeepAliveTime);
        Assert.Equal(2, b.TcpKeepAliveInterval);
        Assert.Equal(PostgresClusterOptions.DefaultMaxConnectionsPerHost, b.MaxPoolSize);
        // Failed on the old code (Npgsql's default, Prefer): a blocking Kerberos call on every new connection.
        Assert.Equal(GssEncryptionMode.Disable, b.GssEncryptionMode);
    }

    [Fact]
    public async Task Settings_the_connection_string_sets_are_kept()
    {
        var b = await PoolSettingsAsync(";Timeout=7;Command Timeout=9;Cancellation Timeout=500;Maximum Pool Size=12;Tcp Keepalive Time=60");
        Assert.Equal(7, b.Timeout);
        Assert.Equal(9, b.CommandTimeout);
        Assert.Equal(60, b.TcpKeepAliveTime);
        Assert.Equal(0, b.TcpKeepAliveInterval);
        Assert.Equal(500, b.CancellationTimeout);
        Assert.Equal(12, b.MaxPoolSize);
    }

    [Fact]
    public async Task A_GSS_encryption_mode_the_connection_string_sets_is_kept()
    {
        var b = await PoolSettingsAsync(";GSS Encryption Mode=Prefer");
        Assert.Equal(GssEncryptionMode.Prefer, b.GssEncryptionMode);
        var probe = await PoolSettingsAsync(";Gss Encryption Mode=Require");
        Assert.Equal(GssEncryptionMode.Require, probe.GssEncryptionMode);
    }

    [Fact]
    public async Task A_long_budget_is_the_connect_timeout_and_leaves_no_command_timeout()
    {
        var b = await PoolSettingsAsync(string.Empty, o => o.Resilience.OperationTimeout = TimeSpan.FromSeconds(40));
        Assert.Equal(40, b.Timeout);
        Assert.Equal(0, b.CommandTimeout);
    }

    [Fact]
    public async Task An_explicit_cap_is_the_pool_size()
    {
        var b = await PoolSettingsAsync(string.Empty, o => o.MaxConnectionsPerHost = 7);
        Assert.Equal(7, b.MaxPoolSize);
    }
}
