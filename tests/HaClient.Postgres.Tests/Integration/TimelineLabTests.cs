using Npgsql;
using Xunit;

namespace HaClient.Postgres.Tests.Integration;

/// <summary>A replica's timeline as the monitor reads it, on the plain lab (primary 15432, replicas 15433 and 15434).</summary>
[Collection("plain-lab")]
[Trait("Category", "Lab")]
public sealed class TimelineLabTests
{
    [Fact]
    public async Task A_replica_whose_receiver_stopped_keeps_the_timeline_it_streamed_on()
    {
        // Failed on the old code: a replica with no WAL receiver was reported on timeline 0 ("unknown"), which the
        // router's timeline rule lets through, so a thawed old primary restarted as a standby on its old timeline served
        // bounded reads past the fork (12 stale reads in the 30-minute net soak, seed 1717). A host now keeps the
        // timeline it was last seen on (KnownTimelines; the thawed primary's case is KnownTimelinesTests): here the
        // primary's, so it also goes on serving bounded reads while it reconnects.
        await using var cluster = await PlainLabTests.ClusterAsync();
        var primaryTimeline = cluster.Topology.Primary!.Timeline;
        Assert.NotEqual(0, primaryTimeline);
        string original;
        await using (var c = new NpgsqlConnection($"Host=127.0.0.1;Port=15433;{Lab.Credentials};Pooling=false"))
        {
            await c.OpenAsync();
            await using var show = new NpgsqlCommand("SHOW primary_conninfo", c);
            original = (string)(await show.ExecuteScalarAsync())!;
        }

        await PlainLabTests.SqlAsync(15433, "ALTER SYSTEM SET primary_conninfo = 'host=127.0.0.1 port=1 user=haclient connect_timeout=1'");
        await PlainLabTests.SqlAsync(15433, "SELECT pg_reload_conf()");
        try
        {
            Assert.True(await Lab.EventuallyAsync(async () => await ReceiversAsync(15433) == 0, TimeSpan.FromSeconds(15)), "n2's WAL receiver never stopped");
            var stoppedAt = DateTimeOffset.UtcNow;
            Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(cluster.Topology.Hosts[1].ProbedAt > stoppedAt.AddMilliseconds(500)), TimeSpan.FromSeconds(10)), "n2 was not probed after its receiver stopped");
            Assert.Equal(0, await ReceiversAsync(15433));
            var n2 = cluster.Topology.Hosts[1];
            Assert.Equal(PostgresRole.Replica, n2.Role);
            Assert.Equal(primaryTimeline, n2.Timeline);
        }
        finally
        {
            await PlainLabTests.SqlAsync(15433, $"ALTER SYSTEM SET primary_conninfo = '{original.Replace("'", "''", StringComparison.Ordinal)}'");
            await PlainLabTests.SqlAsync(15433, "SELECT pg_reload_conf()");
            await Lab.RunAsync("pg up");
        }
    }

    private static async Task<long> ReceiversAsync(int port)
    {
        await using var c = new NpgsqlConnection($"Host=127.0.0.1;Port={port};{Lab.Credentials};Pooling=false;Timeout=5");
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT count(*) FROM pg_stat_wal_receiver", c);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }
}
