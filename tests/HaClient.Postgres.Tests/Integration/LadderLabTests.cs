using HaClient.Postgres;
using Npgsql;
using Xunit;

namespace HaClient.Postgres.Tests.Integration;

/// <summary>The degradation ladder on the real servers: with the primary crashed (no promotion) the replicas age out of
/// the lag bound; a plain bounded read then fails, a read on the ladder is served by a replica and says how stale it is;
/// with no server at all, the cache step answers.</summary>
[Collection("plain-lab")]
[Trait("Category", "Lab")]
public sealed class LadderLabTests
{
    private static Task<int> PortAsync(NpgsqlConnection c, CancellationToken ct)
        => Scalar(c, ct);

    private static async Task<int> Scalar(NpgsqlConnection c, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT inet_server_port()", c);
        return (int)(await cmd.ExecuteScalarAsync(ct))!;
    }

    [Fact]
    public async Task With_the_primary_down_and_the_replicas_aged_out_a_ladder_read_is_served_stale_and_says_how_stale()
    {
        await Lab.RunAsync("pg reset");
        await using var cluster = PostgresCluster.Create(new PostgresClusterOptions
        {
            ConnectionString = $"Host=127.0.0.1:15432,127.0.0.1:15433,127.0.0.1:15434;{Lab.Credentials}",
            ProbeInterval = TimeSpan.FromMilliseconds(200),
            ReplicaLag = { MaxLagTime = TimeSpan.FromSeconds(1) },
            Resilience = { OperationTimeout = TimeSpan.FromSeconds(1) },
        }, name: "ladder");
        Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(cluster.Topology.Primary is not null), TimeSpan.FromSeconds(10)), "no primary");
        // A write the replicas replay (a replica that never replayed a transaction reports no lag figure and serves nothing).
        await cluster.ExecuteWriteAsync(async (c, ct) =>
        {
            await using var cmd = new NpgsqlCommand("CREATE TABLE IF NOT EXISTS t_ladder(id int); INSERT INTO t_ladder VALUES (1)", c);
            return await cmd.ExecuteNonQueryAsync(ct);
        });
        Assert.True(await Lab.EventuallyAsync(async () => await Record.ExceptionAsync(() => cluster.ExecuteReadAsync(async (c, ct) =>
        {
            await using var cmd = new NpgsqlCommand("SELECT count(*) FROM t_ladder", c);
            return (long)(await cmd.ExecuteScalarAsync(ct))!;
        })) is null, TimeSpan.FromSeconds(10)));
        var ladder = new ReadLadder<int>(TimeSpan.FromSeconds(30));
        var fresh = await cluster.ExecuteReadWithLadderAsync(PortAsync, ladder);
        Assert.Equal(ReadStep.Fresh, fresh.Step);
        try
        {
            await Lab.RunAsync("pg crash-primary");
            // The replicas age out of the 1 s bound once the primary is gone: a plain bounded read has nowhere to go.
            Assert.True(await Lab.EventuallyAsync(async () => await Record.ExceptionAsync(() => cluster.ExecuteReadAsync(PortAsync)) is HaClientException, TimeSpan.FromSeconds(10)), "bounded reads kept being served");
            for (var i = 0; i < 5; i++)
            {
                var read = await cluster.ExecuteReadWithLadderAsync(PortAsync, ladder);
                Assert.Equal(ReadStep.StaleReplica, read.Step);
                Assert.Contains(read.Value, new[] { 15433, 15434 });
                Assert.InRange(read.Staleness, TimeSpan.FromSeconds(1), ladder.MaxStaleness);
                Assert.NotNull(read.Endpoint);
            }
        }
        finally
        {
            await Lab.RunAsync("pg reset");
        }
    }

    [Fact]
    public async Task With_no_server_at_all_the_cache_step_answers_within_the_staleness_and_an_older_entry_is_refused()
    {
        await using var cluster = PostgresCluster.Create(new PostgresClusterOptions
        {
            ConnectionString = $"Host=127.0.0.1:1,127.0.0.1:2;{Lab.Credentials}",
            Resilience = { OperationTimeout = TimeSpan.FromMilliseconds(300) },
        }, name: "ladder-offline");
        var young = new ReadLadder<int>(TimeSpan.FromSeconds(30), _ => ValueTask.FromResult<CachedRead<int>?>(new CachedRead<int>(7, DateTimeOffset.UtcNow.AddSeconds(-2))));
        var read = await cluster.ExecuteReadWithLadderAsync(PortAsync, young);
        Assert.Equal((7, ReadStep.Cache), (read.Value, read.Step));
        Assert.InRange(read.Staleness, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(30));
        Assert.Null(read.Endpoint);

        var old = new ReadLadder<int>(TimeSpan.FromSeconds(30), _ => ValueTask.FromResult<CachedRead<int>?>(new CachedRead<int>(7, DateTimeOffset.UtcNow.AddMinutes(-5))));
        await Assert.ThrowsAnyAsync<HaClientException>(() => cluster.ExecuteReadWithLadderAsync(PortAsync, old));
        var none = new ReadLadder<int>(TimeSpan.FromSeconds(30), _ => ValueTask.FromResult<CachedRead<int>?>(null));
        await Assert.ThrowsAnyAsync<HaClientException>(() => cluster.ExecuteReadWithLadderAsync(PortAsync, none));
    }
}
