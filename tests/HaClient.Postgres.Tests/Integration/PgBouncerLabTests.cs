using System.Collections.Concurrent;
using System.Diagnostics;
using HaClient.Postgres;
using Npgsql;
using Xunit;

namespace HaClient.Postgres.Tests.Integration;

/// <summary>The Postgres client through one PgBouncer 1.18 per node in transaction pooling mode (lab poolers
/// 15452-15454 in front of the plain servers 15432-15434): requests go through the poolers, the monitor watches the
/// servers. <c>inet_server_port()</c> names the server that ran a statement, whichever pooler it passed.</summary>
[Collection("plain-lab")]
[Trait("Category", "Lab")]
public sealed class PgBouncerLabTests
{
    private static readonly int[] Servers = [15432, 15433, 15434];
    private static readonly int[] Poolers = [15452, 15453, 15454];

    private static async Task<PostgresCluster> ClusterAsync(Action<PostgresClusterOptions>? configure = null)
    {
        // The collection fixture holds the drill lock and brought the plain lab up; the poolers are part of `up`.
        await Lab.RunAsync("pgbouncer up");
        var o = new PostgresClusterOptions
        {
            ConnectionString = Lab.Credentials,
            Hosts = Servers.Select((s, i) => $"127.0.0.1:{s} via 127.0.0.1:{Poolers[i]}").ToList(),
            ProbeInterval = TimeSpan.FromMilliseconds(200),
        };
        configure?.Invoke(o);
        var cluster = PostgresCluster.Create(o, name: "pgbouncer");
        await cluster.WaitForTopologyAsync(TimeSpan.FromSeconds(10));
        Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(cluster.Topology.Primary is not null), TimeSpan.FromSeconds(10)), "no primary found");
        await cluster.ExecuteWriteAsync(async (c, ct) =>
        {
            await using var cmd = new NpgsqlCommand("CREATE TABLE IF NOT EXISTS t_pooled(id bigserial PRIMARY KEY, v text)", c);
            return await cmd.ExecuteNonQueryAsync(ct);
        });
        return cluster;
    }

    private static int PrimaryPort(PostgresCluster cluster) => cluster.Topology.Primary!.Endpoint.Port;

    private static Task<(long Id, int Port)> InsertAsync(PostgresCluster cluster)
        => cluster.ExecuteWriteAsync(async (c, t) =>
        {
            await using var cmd = new NpgsqlCommand("INSERT INTO t_pooled(v) VALUES ('x') RETURNING id, inet_server_port()", c);
            await using var r = await cmd.ExecuteReaderAsync(t);
            await r.ReadAsync(t);
            return (r.GetInt64(0), r.GetInt32(1));
        });

    private static Task<int> ReadPortAsync(PostgresCluster cluster, ReadConsistency consistency = default)
        => cluster.ExecuteReadAsync(async (c, t) =>
        {
            await using var cmd = new NpgsqlCommand("SELECT inet_server_port()", c);
            return (int)(await cmd.ExecuteScalarAsync(t))!;
        }, consistency);

    private static string Node(int serverPort) => $"n{Array.IndexOf(Servers, serverPort) + 1}";

    [Fact]
    public async Task Writes_land_only_on_the_primary_and_reads_on_replicas_through_the_poolers()
    {
        await using var cluster = await ClusterAsync();
        var primary = PrimaryPort(cluster);
        Assert.Equal("127.0.0.1:15432 via 127.0.0.1:15452", cluster.Options.Hosts[0]);
        Assert.True(await Lab.EventuallyAsync(async () => await ReadPortAsync(cluster) != primary, TimeSpan.FromSeconds(10)), "reads never left the primary");
        var writePorts = new HashSet<int>();
        var readPorts = new HashSet<int>();
        for (var i = 0; i < 30; i++)
        {
            writePorts.Add((await InsertAsync(cluster)).Port);
            readPorts.Add(await ReadPortAsync(cluster));
        }

        Assert.Equal([primary], writePorts);
        Assert.Equal(Servers.Where(p => p != primary).ToHashSet(), readPorts);

        // The routed data source's write connection too: its standby check is a round trip through the pooler.
        await using var connection = await cluster.OpenWriteConnectionAsync();
        await using var port = new NpgsqlCommand("SELECT inet_server_port()", connection);
        Assert.Equal(primary, (int)(await port.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task A_lagging_replica_is_skipped()
    {
        await using var cluster = await ClusterAsync(o => o.ReplicaLag.MaxLagTime = TimeSpan.FromSeconds(1));
        var primary = PrimaryPort(cluster);
        var lagging = Servers.First(p => p != primary);
        var other = Servers.Last(p => p != primary);
        await Lab.RunAsync($"pg pause-replay {Node(lagging)}");
        try
        {
            using var writing = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var writer = Task.Run(async () =>
            {
                while (!writing.IsCancellationRequested)
                {
                    await InsertAsync(cluster);
                    await Task.Delay(20);
                }
            });

            // Behind the primary for more than the bound, as the monitor (watching the servers, not the poolers) sees
            // it. (The lag figure alone is no clock: after an idle spell it reads as the time since the last write.)
            var lagIndex = Array.IndexOf(Servers, lagging);
            var behindSince = (Stopwatch?)null;
            Assert.True(await Lab.EventuallyAsync(() =>
            {
                var t = cluster.Topology;
                if (t.Primary is null || t.Hosts[lagIndex].WalLsn >= t.Primary.WalLsn)
                {
                    behindSince = null;
                    return Task.FromResult(false);
                }

                behindSince ??= Stopwatch.StartNew();
                return Task.FromResult(behindSince.Elapsed > TimeSpan.FromSeconds(1.5) && t.Hosts[lagIndex].ReplayLagSeconds > 1.5);
            }, TimeSpan.FromSeconds(15)), "the paused replica never showed lag");
            var ports = new List<int>();
            for (var i = 0; i < 40; i++)
            {
                ports.Add(await ReadPortAsync(cluster));
            }

            await writing.CancelAsync();
            await writer.ContinueWith(_ => { });
            Assert.DoesNotContain(lagging, ports);
            Assert.Contains(other, ports);
        }
        finally
        {
            await Lab.RunAsync($"pg resume-replay {Node(lagging)}");
        }
    }

    [Fact]
    public async Task A_token_read_sees_its_write()
    {
        await using var cluster = await ClusterAsync(o => o.ReplicaLag.MaxLagTime = TimeSpan.FromSeconds(30));
        var missed = 0;
        for (var i = 0; i < 100; i++)
        {
            var w = await cluster.ExecuteWriteWithTokenAsync(async (c, t) =>
            {
                await using var cmd = new NpgsqlCommand("INSERT INTO t_pooled(v) VALUES ('tok') RETURNING id", c);
                return (long)(await cmd.ExecuteScalarAsync(t))!;
            });
            Assert.False(w.Token.IsEmpty);
            var seen = await cluster.ExecuteReadAsync(async (c, t) =>
            {
                await using var cmd = new NpgsqlCommand("SELECT EXISTS (SELECT 1 FROM t_pooled WHERE id = @id)", c);
                cmd.Parameters.AddWithValue("id", w.Value);
                return (bool)(await cmd.ExecuteScalarAsync(t))!;
            }, w.Token);
            missed += seen ? 0 : 1;
        }

        Assert.Equal(0, missed);
    }

    [Fact]
    public async Task A_hung_server_behind_its_pooler_releases_callers_at_their_budget()
    {
        var budget = TimeSpan.FromSeconds(1);
        await using var cluster = await ClusterAsync(o => o.Resilience.OperationTimeout = budget);
        var primary = PrimaryPort(cluster);
        await Lab.RunAsync("pg hang-primary");
        try
        {
            // The pooler in front of the frozen server still accepts; only the budget and the monitor end these calls.
            var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
            {
                var sw = Stopwatch.StartNew();
                var e = await Record.ExceptionAsync(() => InsertAsync(cluster));
                return (sw.Elapsed, e);
            }));
            foreach (var (elapsed, e) in results)
            {
                // Generous margin: 2 cores, CI noise. Without the budget these calls wait for PgBouncer's query_wait_timeout.
                Assert.True(elapsed < budget + TimeSpan.FromSeconds(2), $"a call took {elapsed.TotalMilliseconds:0} ms");
                Assert.IsAssignableFrom<HaClientException>(e);
            }

            Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(cluster.Topology.Primary is null), TimeSpan.FromSeconds(5)), "the hung server was never marked down");
            for (var k = 0; k < 3; k++)
            {
                Assert.NotEqual(primary, await ReadPortAsync(cluster));
            }
        }
        finally
        {
            await Lab.RunAsync("pg resume");
        }

        Assert.True(await Lab.EventuallyAsync(async () => await Record.ExceptionAsync(() => InsertAsync(cluster)) is null, TimeSpan.FromSeconds(15)), "writes did not resume after the server thawed");
    }

    [Fact]
    public async Task A_pooler_that_cannot_reach_its_server_takes_its_host_out_of_routing()
    {
        var budget = TimeSpan.FromSeconds(1);
        await using var cluster = await ClusterAsync(o => o.Resilience.OperationTimeout = budget);
        var primary = PrimaryPort(cluster);
        var replica = Servers.First(p => p != primary);
        var index = Array.IndexOf(Servers, replica);
        await Lab.RunAsync($"pgbouncer pause b{Node(replica)}");
        try
        {
            // The server itself still answers the monitor; the path through its pooler does not.
            Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(cluster.Topology.Hosts[index].Role == PostgresRole.Down), TimeSpan.FromSeconds(5)), "the paused pooler's host was never taken out");
            for (var i = 0; i < 10; i++)
            {
                var sw = Stopwatch.StartNew();
                Assert.NotEqual(replica, await ReadPortAsync(cluster));
                Assert.True(sw.Elapsed < budget + TimeSpan.FromSeconds(2), $"a read took {sw.Elapsed.TotalMilliseconds:0} ms");
            }
        }
        finally
        {
            await Lab.RunAsync("pgbouncer resume");
        }

        Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(cluster.Topology.Hosts[index].Role == PostgresRole.Replica), TimeSpan.FromSeconds(10)), "the host did not come back after its pooler resumed");
    }

    [Fact]
    public async Task After_a_crash_failover_writes_go_to_the_new_primary()
    {
        await using var cluster = await ClusterAsync(o => o.Resilience.OperationTimeout = TimeSpan.FromSeconds(2));
        var old = PrimaryPort(cluster);
        var next = Servers.First(p => p != old);
        try
        {
            await Lab.RunAsync("pg crash-primary");

            // The pooler in front of the dead server is still up: the monitor, watching the server, counts it down.
            Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(cluster.Topology.Primary is null), TimeSpan.FromSeconds(5)), "the crash was not noticed");
            await Lab.RunAsync($"pg promote {Node(next)}");
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
            }, TimeSpan.FromSeconds(10), pollMs: 10), "writes never resumed after the promotion");
            for (var i = 0; i < 10; i++)
            {
                acked.Add((await InsertAsync(cluster)).Port);
            }

            Assert.Equal([next], acked.Distinct());
            Assert.Equal(next, PrimaryPort(cluster));
        }
        finally
        {
            await Lab.RunAsync("pg reset");
        }
    }

    [Fact]
    public async Task The_write_path_s_standby_check_asks_the_server_through_a_pooler()
    {
        await using var cluster = await ClusterAsync();
        var primary = PrimaryPort(cluster);
        foreach (var (server, pooler) in Servers.Zip(Poolers))
        {
            await using var c = new NpgsqlConnection($"Host=127.0.0.1;Port={pooler};{Lab.Credentials};Pooling=false;Timeout=5");
            await c.OpenAsync();
            Assert.Equal(server != primary, await PostgresCalls.IsStandbyAsync(c, pooled: true, CancellationToken.None));
        }
    }

    [Fact]
    public async Task A_demoted_server_behind_its_pooler_still_says_in_hot_standby_off_and_the_pooled_check_asks_it()
    {
        // No cluster here: nothing may log in through the old primary's pooler while its server is down (a failed
        // server login can make PgBouncer take its next welcome from the new session).
        await Lab.RunAsync("pgbouncer up");
        var primaryPooler = Poolers[0];
        await using (var before = new NpgsqlConnection($"Host=127.0.0.1;Port={primaryPooler};{Lab.Credentials};Pooling=false;Timeout=5"))
        {
            await before.OpenAsync();
            Assert.Equal("off", before.PostgresParameters["in_hot_standby"]);
        }

        try
        {
            await Lab.RunAsync("pg crash-primary");
            await Lab.RunAsync("pg promote n2");
            await Lab.RunAsync("pg up"); // n1 is rebuilt as a standby of n2, behind the same pooler

            await using var stale = new NpgsqlConnection($"Host=127.0.0.1;Port={primaryPooler};{Lab.Credentials};Pooling=false;Timeout=5");
            await stale.OpenAsync();
            await using var recovery = new NpgsqlCommand("SELECT pg_is_in_recovery()", stale);
            Assert.True((bool)(await recovery.ExecuteScalarAsync())!);

            // PgBouncer 1.18 hands the client the value its pool first saw. The check on the parameter alone (what a
            // direct connection may rely on) takes the standby for a primary; the pooled check asks the server.
            Assert.Equal("off", stale.PostgresParameters["in_hot_standby"]);
            Assert.False(await PostgresCalls.IsStandbyAsync(stale, pooled: false, CancellationToken.None));
            Assert.True(await PostgresCalls.IsStandbyAsync(stale, pooled: true, CancellationToken.None));
        }
        finally
        {
            await Lab.RunAsync("pg reset");
        }
    }
}
