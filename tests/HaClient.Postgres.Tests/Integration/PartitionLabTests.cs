using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Npgsql;
using Xunit;

namespace HaClient.Postgres.Tests.Integration;

/// <summary>
/// Real network partitions and a full disk on the lab's net part (eng/lab/netns.sh: etcd and Patroni p1-p3 each in a
/// network namespace at 10.213.0.10-13; this process connects from the root namespace). One test per cut kind.
/// </summary>
[Collection("net-lab")]
[Trait("Category", "Lab")]
public sealed class PartitionLabTests
{
    private static readonly string[] Nodes = ["p1", "p2", "p3"];
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(2);

    private static string Addr(string node) => "10.213.0.1" + node[1..];

    [NetFact(NetFeature.Blackhole)]
    public async Task A_leader_cut_off_from_etcd_only_gets_no_write_after_the_REST_majority_names_another_leader()
    {
        var (cluster, old) = await StartAsync("dcs");
        await using var _ = cluster;
        await using var writes = Writers.Start(cluster);
        var majorityAt = 0L;
        await Lab.RunAsync($"net cut {old} dcs", 30);
        try
        {
            // Patroni demotes the old leader itself (retry_timeout 4 s) before the leader key expires (ttl 10 s); the
            // majority of the REST endpoints then names another member.
            Assert.True(await Lab.EventuallyAsync(async () =>
            {
                // The poll's start: the answers are at least that fresh, so this never counts a late write as early.
                majorityAt = Stopwatch.GetTimestamp();
                var named = await Task.WhenAll(Nodes.Select(LeaderNamedByAsync));
                return named.Where(n => n is not null && n != old).GroupBy(n => n).Any(g => g.Count() >= 2);
            }, TimeSpan.FromSeconds(60), 50), "the REST majority never named another leader");
            Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(writes.AckedOnOtherThan(Addr(old), majorityAt)), TimeSpan.FromSeconds(20)), "no write reached the new leader");
        }
        finally
        {
            await Lab.RunAsync($"net heal {old}", 30);
        }

        var late = writes.Acks.Where(a => a.Addr == Addr(old) && a.At > majorityAt).ToList();
        Assert.True(late.Count == 0, $"{late.Count} writes acknowledged by the old leader {old} after the REST majority named another");
        Assert.True(writes.MaxCall < Budget * 3, $"a call took {writes.MaxCall}");
    }

    [NetFact(NetFeature.Namespaces)]
    public async Task A_leader_cut_off_from_everyone_is_replaced_and_calls_stay_within_their_budget()
    {
        var (cluster, old) = await StartAsync("all");
        await using var _ = cluster;
        await using var writes = Writers.Start(cluster);
        var cutAt = Stopwatch.GetTimestamp();
        await Lab.RunAsync($"net cut {old} all", 30);
        try
        {
            Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(writes.AckedOnOtherThan(Addr(old), cutAt)), TimeSpan.FromSeconds(40)), "no write reached a new leader within 40 s");
        }
        finally
        {
            await Lab.RunAsync($"net heal {old}", 30);
        }

        Assert.True(writes.MaxCall < Budget * 3, $"a call took {writes.MaxCall}");
    }

    [NetFact(NetFeature.Blackhole)]
    public async Task A_leader_cut_off_from_the_client_only_fails_calls_within_their_budget_and_serves_again_once_healed()
    {
        var (cluster, old) = await StartAsync("client");
        await using var _ = cluster;
        await Lab.RunAsync($"net cut {old} client", 30);
        try
        {
            // Patroni sees nothing wrong: there is no other primary to go to, and every write must fail in time.
            var sw = Stopwatch.StartNew();
            var e = await Assert.ThrowsAnyAsync<HaClientException>(() => InsertAsync(cluster, 1, null));
            Assert.True(sw.Elapsed < Budget + TimeSpan.FromSeconds(1), $"the failed write took {sw.Elapsed} ({e.GetType().Name})");
        }
        finally
        {
            await Lab.RunAsync($"net heal {old}", 30);
        }

        Assert.True(await Lab.EventuallyAsync(async () =>
        {
            try
            {
                return await InsertAsync(cluster, 2, null) == Addr(old);
            }
            catch (HaClientException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(20), 200), "writes did not reach the healed leader again");
    }

    [NetFact(NetFeature.Tmpfs)]
    public async Task A_full_data_disk_on_the_primary_fails_writes_with_53100_unretried_and_reads_keep_working()
    {
        var (cluster, old) = await StartAsync("fill");
        await using var _ = cluster;
        await Lab.RunAsync($"net fill {old}", 30);
        try
        {
            // Relation extension fails; pages with room may still take a few rows, so write until the error shows.
            var pad = new string('x', 4000);
            PostgresException? full = null;
            for (var i = 10; i < 2000 && full is null; i++)
            {
                try
                {
                    await InsertAsync(cluster, i, pad);
                }
                catch (PostgresException e)
                {
                    full = e;
                }
            }

            Assert.NotNull(full);
            Assert.Equal(PostgresErrorCodes.DiskFull, full.SqlState);
            Assert.Equal(HaClient.Resilience.FailureKind.ServerError, PostgresFailureClassifier.Classify(full));

            // Nothing was failed over and the primary still serves reads.
            var count = await cluster.ExecuteReadAsync(async (c, ct) =>
            {
                await using var cmd = new NpgsqlCommand("SELECT count(*) FROM t_partition", c);
                return (long)(await cmd.ExecuteScalarAsync(ct))!;
            }, ReadConsistency.Primary);
            Assert.True(count > 0);
            Assert.Equal(Addr(old), cluster.Topology.Primary?.Endpoint.Host);
        }
        finally
        {
            await Lab.RunAsync($"net unfill {old}", 30);
        }

        Assert.Equal(Addr(old), await InsertAsync(cluster, 5000, null));
    }

    private static async Task<(PostgresCluster Cluster, string Leader)> StartAsync(string test)
    {
        // The cluster a previous test healed may still be settling (the old leader rejoining): the setup is retried
        // until the leader the REST majority names takes it.
        var old = "";
        var why = "";
        var ready = await Lab.EventuallyAsync(async () =>
        {
            try
            {
                await Lab.RunAsync("net up patroni", 180);
                old = (await Lab.RunAsync("net leader", 20)).Split('\n', StringSplitOptions.TrimEntries).First(l => Nodes.Contains(l));
                await using var c = new NpgsqlConnection($"Host={Addr(old)};{Lab.Credentials};Timeout=5");
                await c.OpenAsync();
                await using var cmd = new NpgsqlCommand("CREATE TABLE IF NOT EXISTS t_partition(id bigint PRIMARY KEY, pad text); TRUNCATE t_partition", c);
                await cmd.ExecuteNonQueryAsync();

                // Patroni promotes only a replica that streams: a cut right after `net up` (the first test of a run)
                // found none yet and no leader was elected in 40 s (CI, c46c086). Wait for both to stream.
                await using var streaming = new NpgsqlCommand("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'", c);
                if ((long)(await streaming.ExecuteScalarAsync())! < 2)
                {
                    why = "the leader's replicas are not both streaming yet";
                    return false;
                }

                return true;
            }
            catch (Exception e)
            {
                why = $"{e.GetType().Name}: {e.Message}";
                return false;
            }
        }, TimeSpan.FromSeconds(90), 1000);
        Assert.True(ready, $"the net part's leader did not take the test table within 90 s: {why}");

        var cluster = PostgresCluster.Create(new PostgresClusterOptions
        {
            ConnectionString = $"Host={string.Join(',', Nodes.Select(n => Addr(n) + ":5432"))};{Lab.Credentials}",
            PatroniUrls = Nodes.Select(n => $"http://{Addr(n)}:8008").ToList(),
            Resilience = { OperationTimeout = Budget },
        }, name: "partition-" + test);
        Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(cluster.Topology.Primary?.Endpoint.Host == Addr(old)), TimeSpan.FromSeconds(15)), "HaClient did not find the leader");
        return (cluster, old);
    }

    private static Task<string> InsertAsync(PostgresCluster cluster, long id, string? pad) => cluster.ExecuteWriteAsync(async (c, ct) =>
    {
        await using var cmd = new NpgsqlCommand("INSERT INTO t_partition VALUES (@id, @pad) RETURNING host(inet_server_addr())", c);
        cmd.Parameters.AddWithValue("id", id);
        cmd.Parameters.AddWithValue("pad", (object?)pad ?? DBNull.Value);
        return (string)(await cmd.ExecuteScalarAsync(ct))!;
    });

    private static async Task<string?> LeaderNamedByAsync(string node)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        try
        {
            using var doc = JsonDocument.Parse(await http.GetStringAsync($"http://{Addr(node)}:8008/cluster"));
            return doc.RootElement.GetProperty("members").EnumerateArray().Where(m => m.GetProperty("role").GetString() is "leader" or "master")
                .Select(m => m.GetProperty("name").GetString()).FirstOrDefault();
        }
        catch (Exception)
        {
            return null;
        }
    }

    /// <summary>Three writers until disposed (bounded at 60 s): every acknowledged write with the node that ran it and
    /// when, and the longest call.</summary>
    private sealed class Writers : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new(TimeSpan.FromSeconds(60));
        private Task[] _tasks = [];
        private long _maxCallTicks;

        public ConcurrentQueue<(string Addr, long At)> Acks { get; } = new();

        public TimeSpan MaxCall => TimeSpan.FromTicks(Interlocked.Read(ref _maxCallTicks));

        public static Writers Start(PostgresCluster cluster)
        {
            var w = new Writers();
            long next = 1_000_000;
            w._tasks = Enumerable.Range(0, 3).Select(_ => Task.Run(async () =>
            {
                while (!w._stop.IsCancellationRequested)
                {
                    var t0 = Stopwatch.GetTimestamp();
                    try
                    {
                        var addr = await InsertAsync(cluster, Interlocked.Increment(ref next), null);
                        w.Acks.Enqueue((addr, Stopwatch.GetTimestamp()));
                    }
                    catch (Exception)
                    {
                        await Task.Delay(20);
                    }

                    var ticks = Stopwatch.GetElapsedTime(t0).Ticks;
                    long seen;
                    while ((seen = Interlocked.Read(ref w._maxCallTicks)) < ticks && Interlocked.CompareExchange(ref w._maxCallTicks, ticks, seen) != seen)
                    {
                    }
                }
            })).ToArray();
            return w;
        }

        public bool AckedOnOtherThan(string addr, long after) => Acks.Any(a => a.Addr != addr && a.At > after);

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await Task.WhenAll(_tasks);
            _stop.Dispose();
        }
    }
}
