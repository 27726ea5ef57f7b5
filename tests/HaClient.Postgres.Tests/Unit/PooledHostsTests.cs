using HaClient.Postgres;
using Npgsql;
using Xunit;

namespace HaClient.Postgres.Tests.Unit;

/// <summary>Hosts behind a pooler (<c>server:port via pooler:port</c>): validation, which address each source uses, and
/// the pooled pool's settings. No server is needed: creating a cluster opens nothing.</summary>
public class PooledHostsTests
{
    private const string Secret = "s3cr3t-pw-never-shown";

    private static PostgresClusterOptions Options(params string[] hosts) => new()
    {
        ConnectionString = $"Username=u;Password={Secret};Database=d",
        Hosts = hosts.ToList(),
    };

    private static string[] Errors(PostgresClusterOptions o)
    {
        var result = new PostgresClusterOptionsValidator().Validate(null, o);
        return result.Failed ? result.Failures.ToArray() : [];
    }

    [Fact]
    public void Pooled_and_direct_hosts_validate()
    {
        Assert.Empty(Errors(Options("127.0.0.1:1 via 127.0.0.1:2", "127.0.0.1:3", "db3 VIA pool3:6432", "127.0.0.1:7 via 127.0.0.1:7")));
    }

    [Theory]
    [InlineData("127.0.0.1:15433 via", "Hosts[1]: is not 'server:port via pooler:port'")]
    [InlineData("via 127.0.0.1:15453", "Hosts[1]: is not 'server:port via pooler:port'")]
    [InlineData("127.0.0.1:15433 via a via b", "Hosts[1]: is not 'server:port via pooler:port'")]
    [InlineData("127.0.0.1:15433 via 127.0.0.1:x", "Hosts[1]: the pooler (after 'via') '127.0.0.1:x' has port 'x'")]
    [InlineData("127.0.0.1:99999 via 127.0.0.1:15453", "Hosts[1]: the server (before 'via') '127.0.0.1:99999' has port")]
    [InlineData("127.0.0.1:15433 via u:pw@127.0.0.1:15453", "Hosts[1]: the pooler (after 'via') looks like a connection string")]
    public void A_malformed_pooled_host_names_its_index_and_its_part(string bad, string expected)
    {
        var errors = Errors(Options("127.0.0.1:15432 via 127.0.0.1:15452", bad));
        Assert.Contains(errors, e => e.StartsWith(expected, StringComparison.Ordinal));
        Assert.All(errors, e => Assert.DoesNotContain(Secret, e, StringComparison.Ordinal));
        Assert.All(errors, e => Assert.DoesNotContain("pw@", e, StringComparison.Ordinal));
    }

    [Fact]
    public void Two_hosts_through_one_pooler_is_an_error()
    {
        var errors = Errors(Options("127.0.0.1:15432 via 127.0.0.1:15452", "127.0.0.1:15433 via 127.0.0.1:15452"));
        Assert.Contains(errors, e => e.StartsWith("Hosts[0]: its pooler 127.0.0.1:15452 is also Hosts[1]'s pooler", StringComparison.Ordinal));
    }

    [Fact]
    public void A_pooler_that_is_another_host_s_server_is_an_error()
    {
        var errors = Errors(Options("127.0.0.1:15432 via 127.0.0.1:15433", "127.0.0.1:15433"));
        Assert.Contains(errors, e => e.StartsWith("Hosts[0]: its pooler 127.0.0.1:15433 is also Hosts[1]'s server", StringComparison.Ordinal));
    }

    [Fact]
    public void Via_in_the_connection_string_s_host_list_is_refused_with_where_it_belongs()
    {
        var o = new PostgresClusterOptions { ConnectionString = $"Host=127.0.0.1:15432 via 127.0.0.1:15452;Password={Secret}" };
        Assert.Contains(Errors(o), e => e.StartsWith("ConnectionString:Host[0]:", StringComparison.Ordinal) && e.Contains("a pooler is named in Hosts", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Requests_go_to_the_pooler_and_the_monitor_watches_the_server()
    {
        await using var cluster = PostgresCluster.Create(Options("127.0.0.1:1 via 127.0.0.1:2", "127.0.0.1:3"));
        var pooled = cluster.GetSlot(0);
        Assert.Equal(new HostEndpoint("127.0.0.1", 1), cluster.Topology.Hosts[0].Endpoint);
        Assert.Equal("127.0.0.1:1 via 127.0.0.1:2", pooled.Name);
        Assert.True(pooled.IsPooled);
        Assert.Equal((Host: "127.0.0.1", Port: 2), HostOf(pooled.Pool));
        Assert.Equal((Host: "127.0.0.1", Port: 1), HostOf(pooled.ProbeSource));
        Assert.Equal((Host: "127.0.0.1", Port: 2), HostOf(pooled.ViaProbeSource!));

        var direct = cluster.GetSlot(1);
        Assert.False(direct.IsPooled);
        Assert.Null(direct.ViaProbeSource);
        Assert.Equal((Host: "127.0.0.1", Port: 3), HostOf(direct.Pool));
        Assert.Equal((Host: "127.0.0.1", Port: 3), HostOf(direct.ProbeSource));
    }

    [Fact]
    public async Task A_pooler_watched_in_place_of_its_server_gets_no_second_check()
    {
        await using var cluster = PostgresCluster.Create(Options("127.0.0.1:2 via 127.0.0.1:2"));
        Assert.True(cluster.GetSlot(0).IsPooled);
        Assert.Null(cluster.GetSlot(0).ViaProbeSource);
    }

    [Fact]
    public async Task A_pooled_pool_gets_no_reset_on_close_and_no_auto_prepare_and_a_direct_one_keeps_npgsql_s_defaults()
    {
        var o = Options("127.0.0.1:1 via 127.0.0.1:2", "127.0.0.1:3");
        await using var cluster = PostgresCluster.Create(o);
        var pooled = new NpgsqlConnectionStringBuilder(cluster.GetPool(0).ConnectionString);
        Assert.True(pooled.NoResetOnClose);
        Assert.Equal(0, pooled.MaxAutoPrepare);
        Assert.False(new NpgsqlConnectionStringBuilder(cluster.GetPool(1).ConnectionString).NoResetOnClose);
    }

    [Fact]
    public async Task Conflicting_settings_are_kept_and_each_is_warned_of_once_at_start_up()
    {
        var o = Options("127.0.0.1:1 via 127.0.0.1:2", "127.0.0.1:3 via 127.0.0.1:4");
        o.ConnectionString += ";Max Auto Prepare=20;No Reset On Close=false";
        var logs = new RecordingLoggerFactory();
        await using var cluster = PostgresCluster.Create(o, logs);
        var pooled = new NpgsqlConnectionStringBuilder(cluster.GetPool(0).ConnectionString);
        Assert.Equal(20, pooled.MaxAutoPrepare);
        Assert.False(pooled.NoResetOnClose);
        var warnings = logs.Entries.Where(e => e.Level == Microsoft.Extensions.Logging.LogLevel.Warning && e.Message.Contains("go through a pooler", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, warnings.Count);
        Assert.Contains(warnings, w => w.Message.Contains("Max Auto Prepare=20", StringComparison.Ordinal));
        Assert.Contains(warnings, w => w.Message.Contains("No Reset On Close=false", StringComparison.Ordinal));
        Assert.All(warnings, w => Assert.DoesNotContain(Secret, w.Message, StringComparison.Ordinal));
    }

    [Fact]
    public async Task No_warning_without_a_pooler()
    {
        var o = Options("127.0.0.1:1");
        o.ConnectionString += ";Max Auto Prepare=20";
        var logs = new RecordingLoggerFactory();
        await using var cluster = PostgresCluster.Create(o, logs);
        Assert.DoesNotContain(logs.Entries, e => e.Message.Contains("pooler", StringComparison.Ordinal));
    }

    private static (string Host, int Port) HostOf(NpgsqlDataSource source)
    {
        var b = new NpgsqlConnectionStringBuilder(source.ConnectionString);
        return (b.Host!, b.Port);
    }
}
