using System.Collections.Concurrent;
using System.Diagnostics;
using HaClient.Postgres;
using Npgsql;
using Xunit;

namespace HaClient.Postgres.Tests.Integration;

[CollectionDefinition("plain-lab")]
public sealed class PlainLabCollection : ICollectionFixture<PlainLabFixture>;

/// <summary>The Postgres client against a real primary (127.0.0.1:15432) and two replicas (15433, 15434).</summary>
[Collection("plain-lab")]
[Trait("Category", "Lab")]
public sealed class PlainLabTests
{
    private static readonly int[] Ports = [15432, 15433, 15434];

    internal static async Task<PostgresCluster> ClusterAsync(Action<PostgresClusterOptions>? configure = null, RecordingLoggerFactory? logs = null)
    {
        var o = new PostgresClusterOptions
        {
            ConnectionString = $"Host={string.Join(',', Ports.Select(p => $"127.0.0.1:{p}"))};{Lab.Credentials}",
            ProbeInterval = TimeSpan.FromMilliseconds(200),
        };
        configure?.Invoke(o);
        var cluster = PostgresCluster.Create(o, logs, name: "test");
        await cluster.WaitForTopologyAsync(TimeSpan.FromSeconds(10));
        Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(cluster.Topology.Primary is not null), TimeSpan.FromSeconds(10)), "no primary found");
        return cluster;
    }

    internal static async Task EnsureTableAsync(PostgresCluster cluster)
        => await cluster.ExecuteWriteAsync(async (c, ct) =>
        {
            await using var cmd = new NpgsqlCommand("CREATE TABLE IF NOT EXISTS t_items(id bigserial PRIMARY KEY, v text)", c);
            return await cmd.ExecuteNonQueryAsync(ct);
        });

    private static Task<(long Id, int Port)> InsertAsync(PostgresCluster cluster, CancellationToken ct = default)
        => cluster.ExecuteWriteAsync(async (c, t) =>
        {
            await using var cmd = new NpgsqlCommand("INSERT INTO t_items(v) VALUES ('x') RETURNING id, inet_server_port()", c);
            await using var r = await cmd.ExecuteReaderAsync(t);
            await r.ReadAsync(t);
            return (r.GetInt64(0), r.GetInt32(1));
        }, ct);

    /// <summary>Keeps writing until replica n2 (127.0.0.1:15433) has been behind the primary for more than 1.5 s, then
    /// reads 40 times: the ports that served those reads. (Its own lag figure is no clock for this: after an idle spell it
    /// reads as the time since the last write anywhere, already above 1.5 s while the replica is still current.)</summary>
    private static async Task<List<int>> ReadPortsOnceN2LagsAsync(PostgresCluster cluster, string neverLagged)
    {
        using var writing = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var writer = KeepWritingAsync(cluster, writing.Token);
        var behindSince = (Stopwatch?)null;
        Assert.True(await Lab.EventuallyAsync(() =>
        {
            var hosts = cluster.Topology.Hosts;
            var primary = cluster.Topology.Primary;
            if (primary is null || hosts[1].WalLsn >= primary.WalLsn)
            {
                behindSince = null;
                return Task.FromResult(false);
            }

            behindSince ??= Stopwatch.StartNew();
            return Task.FromResult(behindSince.Elapsed > TimeSpan.FromSeconds(1.5) && hosts[1].ReplayLagSeconds > 1.5);
        }, TimeSpan.FromSeconds(15)), neverLagged);
        var ports = new List<int>();
        for (var i = 0; i < 40; i++)
        {
            ports.Add(await ReadPortAsync(cluster));
        }

        await writing.CancelAsync();
        await writer.ContinueWith(_ => { });
        return ports;
    }

    /// <summary>Writes every 20 ms until <paramref name="stop"/> (so replicas have something to fall behind on).</summary>
    private static Task KeepWritingAsync(PostgresCluster cluster, CancellationToken stop) => Task.Run(async () =>
    {
        while (!stop.IsCancellationRequested)
        {
            await InsertAsync(cluster);
            await Task.Delay(20);
        }
    });

    internal static Task<int> ReadPortAsync(PostgresCluster cluster, ReadConsistency consistency = default)
        => cluster.ExecuteReadAsync(async (c, t) =>
        {
            await using var cmd = new NpgsqlCommand("SELECT inet_server_port()", c);
            return (int)(await cmd.ExecuteScalarAsync(t))!;
        }, consistency);

    internal static async Task SqlAsync(int port, string sql)
    {
        await using var c = new NpgsqlConnection($"Host=127.0.0.1;Port={port};{Lab.Credentials};Pooling=false;Timeout=5");
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, c);
        await cmd.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task Discovers_primary_replicas_timeline_and_lag()
    {
        await using var cluster = await ClusterAsync();
        var t = cluster.Topology;
        Assert.Equal(15432, t.Primary!.Endpoint.Port);
        Assert.True(t.Primary.Timeline >= 1);
        Assert.False(t.SplitBrain);
        Assert.Equal(2, t.Hosts.Count(h => h.Role == PostgresRole.Replica));
        Assert.All(t.Hosts.Where(h => h.Role == PostgresRole.Replica), h => Assert.NotNull(h.ReplayLagSeconds));
    }

    [Fact]
    public async Task Writes_land_only_on_the_primary_and_reads_spread_over_replicas()
    {
        await using var cluster = await ClusterAsync();
        await EnsureTableAsync(cluster);

        // Steady state first: a replica serves bounded reads once a primary sample shows what it holds.
        Assert.True(await Lab.EventuallyAsync(async () => await ReadPortAsync(cluster) != 15432, TimeSpan.FromSeconds(10)), "reads never left the primary");
        var writePorts = new HashSet<int>();
        var readPorts = new HashSet<int>();
        for (var i = 0; i < 30; i++)
        {
            writePorts.Add((await InsertAsync(cluster)).Port);
            readPorts.Add(await ReadPortAsync(cluster));
        }

        Assert.Equal([15432], writePorts);
        Assert.Equal(new HashSet<int> { 15433, 15434 }, readPorts);
        Assert.Equal(15432, await ReadPortAsync(cluster, ReadConsistency.Primary));
    }

    [Fact]
    public async Task Token_read_sees_its_write_even_when_replicas_lag()
    {
        await using var cluster = await ClusterAsync(o => o.ReplicaLag.MaxLagTime = TimeSpan.FromSeconds(30));
        await EnsureTableAsync(cluster);
        for (var i = 0; i < 50; i++)
        {
            var w = await cluster.ExecuteWriteWithTokenAsync(async (c, t) =>
            {
                await using var cmd = new NpgsqlCommand("INSERT INTO t_items(v) VALUES ('tok') RETURNING id", c);
                return (long)(await cmd.ExecuteScalarAsync(t))!;
            });
            Assert.False(w.Token.IsEmpty);
            Assert.True(ConsistencyToken.TryParse(w.Token.ToString(), out var travelled));
            var seen = await cluster.ExecuteReadAsync(async (c, t) =>
            {
                await using var cmd = new NpgsqlCommand("SELECT EXISTS (SELECT 1 FROM t_items WHERE id = @id)", c);
                cmd.Parameters.AddWithValue("id", w.Value);
                return (bool)(await cmd.ExecuteScalarAsync(t))!;
            }, travelled);
            Assert.True(seen, $"token read {i} missed its write");
        }

        // With replay paused on both replicas, a token read must be served by the primary.
        await SqlAsync(15433, "SELECT pg_wal_replay_pause()");
        await SqlAsync(15434, "SELECT pg_wal_replay_pause()");
        try
        {
            var w = await cluster.ExecuteWriteWithTokenAsync(async (c, t) =>
            {
                await using var cmd = new NpgsqlCommand("INSERT INTO t_items(v) VALUES ('paused') RETURNING id", c);
                return (long)(await cmd.ExecuteScalarAsync(t))!;
            });
            await Task.Delay(300); // let a probe see the replicas behind
            for (var i = 0; i < 10; i++)
            {
                Assert.Equal(15432, await ReadPortAsync(cluster, w.Token));
            }
        }
        finally
        {
            await SqlAsync(15433, "SELECT pg_wal_replay_resume()");
            await SqlAsync(15434, "SELECT pg_wal_replay_resume()");
        }
    }

    [Fact]
    public async Task A_lagging_replica_is_skipped()
    {
        await using var cluster = await ClusterAsync(o => o.ReplicaLag.MaxLagTime = TimeSpan.FromSeconds(1));
        await EnsureTableAsync(cluster);
        await Lab.RunAsync("pg pause-replay n2");
        try
        {
            var ports = await ReadPortsOnceN2LagsAsync(cluster, "replica n2 never showed lag");
            Assert.DoesNotContain(15433, ports);
            Assert.Contains(15434, ports);
        }
        finally
        {
            await Lab.RunAsync("pg resume-replay n2");
        }
    }

    [Fact]
    public async Task A_replica_cut_off_from_the_primary_is_skipped_once_it_falls_behind()
    {
        // A replica whose WAL receiver cannot reach the primary has replayed everything it received, yet misses every
        // newer write. It must count as lagging, not as caught up.
        await using var cluster = await ClusterAsync(o => o.ReplicaLag.MaxLagTime = TimeSpan.FromSeconds(1));
        await EnsureTableAsync(cluster);
        string original;
        await using (var c = new NpgsqlConnection($"Host=127.0.0.1;Port=15433;{Lab.Credentials};Pooling=false"))
        {
            await c.OpenAsync();
            await using var show = new NpgsqlCommand("SHOW primary_conninfo", c);
            original = (string)(await show.ExecuteScalarAsync())!;
        }

        await SqlAsync(15433, "ALTER SYSTEM SET primary_conninfo = 'host=127.0.0.1 port=1 user=haclient connect_timeout=1'");
        await SqlAsync(15433, "SELECT pg_reload_conf()");
        try
        {
            var ports = await ReadPortsOnceN2LagsAsync(cluster, "the cut-off replica never showed lag");
            Assert.DoesNotContain(15433, ports);
        }
        finally
        {
            await SqlAsync(15433, $"ALTER SYSTEM SET primary_conninfo = '{original.Replace("'", "''", StringComparison.Ordinal)}'");
            await SqlAsync(15433, "SELECT pg_reload_conf()");
            await Lab.RunAsync("pg up");
        }
    }

    [Fact]
    public async Task A_hung_primary_does_not_hold_callers_beyond_their_budget()
    {
        var budget = TimeSpan.FromSeconds(1);
        await using var cluster = await ClusterAsync(o => o.Resilience.OperationTimeout = budget);
        await EnsureTableAsync(cluster);
        await Lab.RunAsync("pg hang-primary");
        try
        {
            var calls = Enumerable.Range(0, 8).Select(async _ =>
            {
                var sw = Stopwatch.StartNew();
                var e = await Record.ExceptionAsync(() => InsertAsync(cluster));
                return (sw.Elapsed, e);
            }).ToArray();
            var results = await Task.WhenAll(calls);
            foreach (var (elapsed, e) in results)
            {
                // Generous margin: 2 cores, CI noise. Without the budget these calls wait 30 s or more.
                Assert.True(elapsed < budget + TimeSpan.FromSeconds(2), $"a call took {elapsed.TotalMilliseconds:0} ms");
                Assert.IsAssignableFrom<HaClientException>(e);
            }

            // Reads keep working on the replicas meanwhile, also once the monitor has given the primary up: the
            // replicas are as current as the primary's last WAL samples show, well within the 5 s lag bound.
            Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(cluster.Topology.Primary is null), TimeSpan.FromSeconds(5)), "the hung primary was never marked down");
            for (var k = 0; k < 3; k++)
            {
                Assert.Contains(await ReadPortAsync(cluster), new[] { 15433, 15434 });
            }
        }
        finally
        {
            await Lab.RunAsync("pg resume");
        }

        Exception? last = null;
        Assert.True(
            await Lab.EventuallyAsync(async () => (last = await Record.ExceptionAsync(() => InsertAsync(cluster))) is null, TimeSpan.FromSeconds(15)),
            $"writes did not resume after the primary thawed; topology: {string.Join(", ", cluster.Topology.Hosts.Select(h => $"{h.Endpoint} {h.Role} {h.Error}"))}; last error: {last}");
    }

    [Fact]
    public async Task After_a_crash_and_promotion_writes_follow_the_new_primary()
    {
        await using var cluster = await ClusterAsync(o => o.Resilience.OperationTimeout = TimeSpan.FromSeconds(2));
        await EnsureTableAsync(cluster);
        try
        {
            await Lab.RunAsync("pg crash-primary");

            // Once the monitor knows the primary is down, a write is refused at once and safely: nothing is sent. (A
            // write racing the crash on a pooled connection may instead get WriteOutcomeUnknownException: honest, since
            // a server can also die after committing.)
            Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(cluster.Topology.Primary is null), TimeSpan.FromSeconds(5)), "the crash was not noticed");
            var refused = Stopwatch.StartNew();
            var failure = await Record.ExceptionAsync(() => InsertAsync(cluster));
            var safe = Assert.IsType<NoEligibleEndpointException>(failure);
            Assert.True(safe.IsSafeToRetry);
            Assert.True(refused.Elapsed < TimeSpan.FromSeconds(4), $"refusing took {refused.ElapsedMilliseconds} ms");

            await Lab.RunAsync("pg promote n2");
            var promoted = Stopwatch.StartNew();
            var acked = new ConcurrentBag<int>();
            Assert.True(await Lab.EventuallyAsync(async () =>
            {
                try
                {
                    acked.Add((await InsertAsync(cluster)).Port);
                    return true;
                }
                catch (HaClientException)
                {
                    return false;
                }
            }, TimeSpan.FromSeconds(10), pollMs: 10));
            Assert.True(promoted.Elapsed < TimeSpan.FromSeconds(5), $"writes resumed {promoted.ElapsedMilliseconds} ms after the promotion");
            Assert.Equal([15433], acked.Distinct());
            Assert.Equal(15433, cluster.Topology.Primary!.Endpoint.Port);
        }
        finally
        {
            await Lab.RunAsync("pg reset");
        }
    }

    [Fact]
    public async Task The_data_source_hook_adds_a_type_plugin_to_every_host_s_pool()
    {
        // NodaTime through the hook: a timestamptz comes back as an Instant, on the primary and on a replica.
        await using var cluster = await ClusterAsync(o => o.ConfigureDataSourceBuilder = b => b.UseNodaTime());
        var onPrimary = await cluster.ExecuteReadAsync(ReadNowAsync, ReadConsistency.Primary);
        var onReplica = await cluster.ExecuteReadAsync(ReadNowAsync, ReadConsistency.WithinLagBound);
        Assert.IsType<NodaTime.Instant>(onPrimary);
        Assert.IsType<NodaTime.Instant>(onReplica);
        Assert.True(NodaTime.SystemClock.Instance.GetCurrentInstant() - (NodaTime.Instant)onPrimary < NodaTime.Duration.FromMinutes(5));

        static async Task<object> ReadNowAsync(NpgsqlConnection c, CancellationToken ct)
        {
            await using var cmd = new NpgsqlCommand("SELECT now()", c);
            return (await cmd.ExecuteScalarAsync(ct))!;
        }
    }

    [Fact]
    public async Task A_wrong_password_reaches_the_caller_as_the_cause_and_is_logged_once()
    {
        var logs = new RecordingLoggerFactory();
        await using var cluster = PostgresCluster.Create(new PostgresClusterOptions
        {
            ConnectionString = $"Host={string.Join(',', Ports.Select(p => $"127.0.0.1:{p}"))};Username=haclient;Password=not-the-password;Database=haclient",
            ProbeInterval = TimeSpan.FromMilliseconds(200),
            Resilience = { OperationTimeout = TimeSpan.FromSeconds(1) },
        }, logs, name: "wrong-password");
        var e = await Assert.ThrowsAsync<NoEligibleEndpointException>(() => InsertAsync(cluster));
        var cause = Assert.IsType<PostgresException>(e.InnerException);
        Assert.Equal(PostgresErrorCodes.InvalidPassword, cause.SqlState);
        Assert.Contains("password authentication failed", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("not-the-password", e.ToString(), StringComparison.Ordinal);

        // One error line per host when the refusal starts, not one per probe.
        await Task.Delay(TimeSpan.FromSeconds(1)); // several more probes of each host (every 200 ms)
        var refused = logs.Entries.Where(x => x.Level == Microsoft.Extensions.Logging.LogLevel.Error && x.Message.Contains("refuses the connection settings", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, refused.Count);
        Assert.All(refused, x => Assert.DoesNotContain("not-the-password", x.Message, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Split_brain_never_writes_to_the_lower_timeline_and_is_logged_while_it_lasts()
    {
        var logs = new RecordingLoggerFactory();
        await using var cluster = await ClusterAsync(logs: logs);
        await EnsureTableAsync(cluster);
        try
        {
            // n2 is promoted while n1 still runs as primary: two hosts accept writes.
            await Lab.RunAsync("pg promote n2");
            Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(cluster.Topology.SplitBrain), TimeSpan.FromSeconds(10)), "split brain not reported");
            var topology = cluster.Topology;
            Assert.Equal(15433, topology.Primary!.Endpoint.Port);
            Assert.True(topology.Primary.Timeline > topology.Hosts[0].Timeline);
            for (var i = 0; i < 20; i++)
            {
                Assert.Equal(15433, (await InsertAsync(cluster)).Port);
            }

            // Logged when it starts, naming both claims, and again while it lasts although the chosen primary stays.
            Assert.Contains(logs.Entries, e => e.Level == Microsoft.Extensions.Logging.LogLevel.Error && e.Message.Contains("split brain, several nodes claim primary", StringComparison.Ordinal)
                && e.Message.Contains("127.0.0.1:15432", StringComparison.Ordinal) && e.Message.Contains("127.0.0.1:15433", StringComparison.Ordinal));
            Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(logs.Entries.Any(e => e.Message.Contains("split brain for", StringComparison.Ordinal))), TimeSpan.FromSeconds(20)),
                "a split brain that lasts was not logged again");
        }
        finally
        {
            await Lab.RunAsync("pg reset");
        }
    }
}
