using HaClient.Postgres;
using HaClient.Resilience;
using Npgsql;
using Polly.CircuitBreaker;
using Xunit;

namespace HaClient.Postgres.Tests.Integration;

/// <summary>Admission and overload against the real plain lab: a role with a <c>CONNECTION LIMIT</c> makes the server
/// answer <c>53300 too_many_connections</c> exactly as a full server does.</summary>
[Collection("plain-lab")]
[Trait("Category", "Lab")]
public sealed class AdmissionLabTests
{
    private const string Role = "haclient_capped";
    private const string RolePassword = "capped-lab-pw";
    private static readonly string Hosts = "127.0.0.1:15432,127.0.0.1:15433,127.0.0.1:15434";

    /// <summary>(Re)creates the capped role on the primary with <paramref name="limit"/> connections per server.</summary>
    private static async Task CapRoleAsync(int limit)
    {
        await using var admin = PostgresCluster.Create(new PostgresClusterOptions { ConnectionString = $"Host={Hosts};{Lab.Credentials}" }, name: "admin");
        await admin.WaitForTopologyAsync(TimeSpan.FromSeconds(10));
        await admin.ExecuteWriteAsync(async (c, ct) =>
        {
            await using var cmd = new NpgsqlCommand($"""
                DO $$BEGIN
                  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{Role}') THEN
                    CREATE ROLE {Role} LOGIN PASSWORD '{RolePassword}';
                  END IF;
                END$$;
                ALTER ROLE {Role} CONNECTION LIMIT {limit};
                """, c);
            return await cmd.ExecuteNonQueryAsync(ct);
        });
    }

    private static async Task<PostgresCluster> CappedClusterAsync(Action<PostgresClusterOptions>? configure = null)
    {
        var o = new PostgresClusterOptions
        {
            ConnectionString = $"Host={Hosts};Username={Role};Password={RolePassword};Database=haclient",
            ProbeInterval = TimeSpan.FromMilliseconds(200),
            Resilience = { OperationTimeout = TimeSpan.FromSeconds(10) },
        };
        configure?.Invoke(o);
        var cluster = PostgresCluster.Create(o, name: "capped");
        Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(cluster.Topology.Primary is not null), TimeSpan.FromSeconds(15)), "no primary found");
        return cluster;
    }

    private static Task<int> SleepWriteAsync(PostgresCluster cluster, double seconds)
        => cluster.ExecuteWriteAsync(async (c, ct) =>
        {
            await using var cmd = new NpgsqlCommand($"SELECT pg_sleep({seconds.ToString(System.Globalization.CultureInfo.InvariantCulture)})", c);
            await cmd.ExecuteNonQueryAsync(ct);
            return 1;
        });

    [Fact]
    public async Task A_server_that_is_full_never_opens_the_breaker_nor_marks_the_host_down()
    {
        // Limit 1: the monitor's probe connection holds the role's only slot on each server, so every request
        // connection meets 53300. The server is healthy, just full.
        await CapRoleAsync(1);
        await using var cluster = await CappedClusterAsync();
        var primary = cluster.Topology.PrimaryIndex;
        for (var i = 0; i < 20; i++)
        {
            var e = await Assert.ThrowsAsync<NoEligibleEndpointException>(() => SleepWriteAsync(cluster, 0));
            var pg = Assert.IsType<PostgresException>(e.InnerException);
            Assert.Equal(PostgresErrorCodes.TooManyConnections, pg.SqlState);
            Assert.Equal(FailureKind.Overload, PostgresFailureClassifier.Classify(pg));
        }

        Assert.Equal(BreakerState.Closed, cluster.Topology.Hosts[primary].Breaker);
        Assert.Equal(PostgresRole.Primary, cluster.Topology.Hosts[primary].Role);
    }

    [Fact]
    public async Task Leaving_MaxConnectionsPerHost_out_caps_each_host_at_40_and_callers_beyond_it_wait_instead_of_failing()
    {
        // 40 request connections plus the probe's one fit the limit; Npgsql's own default (100) would not.
        await CapRoleAsync(PostgresClusterOptions.DefaultMaxConnectionsPerHost + 1);
        await using var cluster = await CappedClusterAsync();
        var results = await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => CallAsync(cluster, 0.3)));
        Assert.All(results, r => Assert.Null(r));
    }

    [Fact]
    public async Task With_a_ramp_the_adopted_primary_s_opens_are_bounded_and_a_burst_through_it_all_succeeds()
    {
        // NewPrimaryConcurrentOpens = 8: the monitor arms the ramp when it adopts the primary, a burst far above the cap
        // goes through it without failing, and the ramp lifts once a pool's worth of opens has passed.
        await CapRoleAsync(PostgresClusterOptions.DefaultMaxConnectionsPerHost + 1);
        await using var cluster = await CappedClusterAsync(o => o.NewPrimaryConcurrentOpens = 8);
        var primary = cluster.Topology.PrimaryIndex;
        Assert.True(cluster.GetRamp(primary).IsArmed);
        Assert.False(cluster.GetRamp((primary + 1) % cluster.Topology.Hosts.Count).IsArmed);
        var results = await Task.WhenAll(Enumerable.Range(0, 120).Select(_ => CallAsync(cluster, 0.05)));
        Assert.All(results, r => Assert.Null(r));
        Assert.False(cluster.GetRamp(primary).IsArmed);
    }

    [Fact]
    public async Task Leaving_NewPrimaryConcurrentOpens_out_leaves_the_opens_unbounded()
    {
        await CapRoleAsync(PostgresClusterOptions.DefaultMaxConnectionsPerHost + 1);
        await using var cluster = await CappedClusterAsync();
        Assert.Equal(0, cluster.Options.NewPrimaryConcurrentOpens);
        Assert.False(cluster.GetRamp(cluster.Topology.PrimaryIndex).IsArmed);
    }

    [Fact]
    public async Task An_explicit_cap_holds_under_a_burst()
    {
        await CapRoleAsync(3);
        await using var cluster = await CappedClusterAsync(o => o.MaxConnectionsPerHost = 2);
        var results = await Task.WhenAll(Enumerable.Range(0, 30).Select(_ => CallAsync(cluster, 0.05)));
        Assert.All(results, r => Assert.Null(r));
    }

    [Fact]
    public async Task The_pool_that_has_no_free_connection_is_overload()
    {
        // Npgsql's own message for a full pool is what the classifier recognizes.
        await using var admin = PostgresCluster.Create(new PostgresClusterOptions { ConnectionString = $"Host={Hosts};{Lab.Credentials}" }, name: "admin");
        Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(admin.Topology.Primary is not null), TimeSpan.FromSeconds(15)), "no primary found");
        var primary = admin.Topology.Primary!.Endpoint;
        await using var source = NpgsqlDataSource.Create($"Host={primary.Host};Port={primary.Port};{Lab.Credentials};Maximum Pool Size=1;Timeout=1");
        await using var held = await source.OpenConnectionAsync();
        var e = await Assert.ThrowsAnyAsync<NpgsqlException>(async () => await source.OpenConnectionAsync());
        Assert.Equal(FailureKind.Overload, PostgresFailureClassifier.Classify(e));
    }

    /// <summary>A write that sleeps on the server; the exception it failed with, or null.</summary>
    private static async Task<Exception?> CallAsync(PostgresCluster cluster, double seconds)
    {
        try
        {
            await SleepWriteAsync(cluster, seconds);
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }
}
