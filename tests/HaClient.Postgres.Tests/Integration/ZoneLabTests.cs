using System.Diagnostics;
using HaClient.Routing;
using Xunit;
using Xunit.Abstractions;

namespace HaClient.Postgres.Tests.Integration;

/// <summary>
/// Zone-local reads and latency weighting against the plain lab, in its zone layout (eng/lab/README.md): n1 (15432, the
/// primary) and n2 (15433) in zone a, n3 (15434) in zone b, the client in zone a. Bounds are generous: the machine has 2
/// cores shared with other builds.
/// </summary>
[Collection("plain-lab")]
[Trait("Category", "Lab")]
public sealed class ZoneLabTests(ITestOutputHelper output)
{
    private const int N1 = 15432;
    private const int N2 = 15433;
    private const int N3 = 15434;

    private static async Task<PostgresCluster> ClusterAsync(string name, Action<PostgresClusterOptions>? configure = null)
    {
        var o = new PostgresClusterOptions
        {
            ConnectionString = $"Host=127.0.0.1:{N1},127.0.0.1:{N2},127.0.0.1:{N3};{Lab.Credentials}",
            ProbeInterval = TimeSpan.FromMilliseconds(200),
            Zones = new Dictionary<string, IList<string>>
            {
                ["a"] = [$"127.0.0.1:{N1}", $"127.0.0.1:{N2}"],
                ["b"] = [$"127.0.0.1:{N3}"],
            },
            LocalZone = "a",
        };
        configure?.Invoke(o);
        var cluster = PostgresCluster.Create(o, name: name);
        await cluster.WaitForTopologyAsync(TimeSpan.FromSeconds(10));
        Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(cluster.Topology.Hosts.Count(h => h.Role == PostgresRole.Replica) == 2 && cluster.Topology.Primary is not null), TimeSpan.FromSeconds(15)),
            "the lab's primary and two replicas were not all seen");
        return cluster;
    }

    /// <summary>The layout needs n1 as primary: an earlier fault test may have left n2 promoted.</summary>
    private static async Task EnsureN1PrimaryAsync()
    {
        var status = await Lab.RunAsync("pg status");
        if (!status.Split('\n').Any(l => l.StartsWith("n1 ", StringComparison.Ordinal) && l.Contains("role=primary", StringComparison.Ordinal))
            || status.Split('\n').Count(l => l.Contains("role=replica", StringComparison.Ordinal)) != 2)
        {
            await Lab.RunAsync("pg reset", 240);
        }
    }

    private static Task<int> ReadPortAsync(PostgresCluster cluster, CancellationToken ct = default)
        => cluster.ExecuteReadAsync(async (c, t) =>
        {
            await using var cmd = new Npgsql.NpgsqlCommand("SELECT inet_server_port()", c);
            return (int)(await cmd.ExecuteScalarAsync(t))!;
        }, ReadConsistency.WithinLagBound, ct);

    /// <summary>Polls reads (each a real read) until one is served by <paramref name="port"/>; the time it took.</summary>
    private static async Task<TimeSpan?> TimeUntilReadsGoToAsync(PostgresCluster cluster, int port, TimeSpan bound)
    {
        var sw = Stopwatch.StartNew();
        var ok = await Lab.EventuallyAsync(async () =>
        {
            try
            {
                return await ReadPortAsync(cluster) == port;
            }
            catch (HaClientException)
            {
                return false;
            }
        }, bound, pollMs: 10);
        return ok ? sw.Elapsed : null;
    }

    [Fact]
    public async Task Reads_stay_in_the_local_zone_spill_over_when_its_replica_fails_and_come_back()
    {
        await EnsureN1PrimaryAsync();
        await using var prefer = await ClusterAsync("zones-prefer");
        await using var localOnly = await ClusterAsync("zones-local-only", o => o.ZonePolicy = ZonePolicy.LocalOnly);
        Assert.Equal(["a", "a", "b"], prefer.Topology.Hosts.Select(h => h.Zone));

        // While n2 is healthy: bounded reads stay on it (the local replica), for both policies.
        var ports = new List<int>();
        for (var i = 0; i < 300; i++)
        {
            ports.Add(await ReadPortAsync(prefer));
            ports.Add(await ReadPortAsync(localOnly));
        }

        var localShare = ports.Count(p => p == N2) / (double)ports.Count;
        output.WriteLine($"local_read_share={localShare:F4} ({ports.Count} reads: n1={ports.Count(p => p == N1)} n2={ports.Count(p => p == N2)} n3={ports.Count(p => p == N3)})");
        Assert.True(localShare >= 0.99, $"only {localShare:P2} of the reads stayed on the local replica");

        try
        {
            await Lab.RunAsync("pg crash-replica n2");

            // PreferLocal spills over to the other zone's replica; LocalOnly stays in the zone, on the (local) primary.
            var spill = await TimeUntilReadsGoToAsync(prefer, N3, TimeSpan.FromSeconds(10));
            var stay = await TimeUntilReadsGoToAsync(localOnly, N1, TimeSpan.FromSeconds(10));
            output.WriteLine($"spill_over_ms={spill?.TotalMilliseconds:F0} local_only_to_primary_ms={stay?.TotalMilliseconds:F0} (measured from after the crash verb returned)");
            Assert.NotNull(spill);
            Assert.NotNull(stay);
            for (var i = 0; i < 50; i++)
            {
                Assert.Equal(N3, await ReadPortAsync(prefer));
                Assert.NotEqual(N3, await ReadPortAsync(localOnly));
            }
        }
        finally
        {
            await Lab.RunAsync("pg up");
        }

        // n2 is back: reads return to it.
        var back = await TimeUntilReadsGoToAsync(prefer, N2, TimeSpan.FromSeconds(15));
        var backLocal = await TimeUntilReadsGoToAsync(localOnly, N2, TimeSpan.FromSeconds(15));
        output.WriteLine($"return_ms={back?.TotalMilliseconds:F0} local_only_return_ms={backLocal?.TotalMilliseconds:F0} (measured from after `pg up` returned)");
        Assert.NotNull(back);
        Assert.NotNull(backLocal);
    }

    [Fact]
    public async Task A_browned_out_replica_gets_less_read_traffic_than_a_healthy_one()
    {
        await EnsureN1PrimaryAsync();

        // Both replicas in the local zone, so that only load and latency tell them apart.
        await using var cluster = await ClusterAsync("zones-brownout", o =>
        {
            o.Zones.Clear();
            o.LocalZone = null;
        });
        var baseline = await ReadSpreadAsync(cluster, TimeSpan.FromSeconds(3));
        output.WriteLine($"before the brownout: n2={baseline[N2]} n3={baseline[N3]} reads (n1={baseline[N1]})");
        try
        {
            await Lab.RunAsync("pg brownout n3 60");
            Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(cluster.Topology.Hosts[2].ResponseTime > TimeSpan.FromMilliseconds(5)), TimeSpan.FromSeconds(15)),
                $"n3's response time never rose above 5 ms: {cluster.Topology.Hosts[2].ResponseTime}");
            var browned = await ReadSpreadAsync(cluster, TimeSpan.FromSeconds(5));
            output.WriteLine($"under the brownout of n3: n2={browned[N2]} n3={browned[N3]} reads (n1={browned[N1]}); response n2={cluster.Topology.Hosts[1].ResponseTime?.TotalMilliseconds:F2} ms n3={cluster.Topology.Hosts[2].ResponseTime?.TotalMilliseconds:F2} ms");
            Assert.True(browned[N3] * 4 < browned[N2], $"the browned-out n3 served {browned[N3]} reads against n2's {browned[N2]}");
        }
        finally
        {
            await Lab.RunAsync("pg resume");
        }

        // Thawed: its response time falls back (probes and the reads it still gets), and it serves reads again.
        Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(cluster.Topology.Hosts[2].ResponseTime < TimeSpan.FromMilliseconds(5)), TimeSpan.FromSeconds(30)),
            $"n3's response time stayed at {cluster.Topology.Hosts[2].ResponseTime} after the brownout");
    }

    /// <summary>8 concurrent readers for <paramref name="duration"/>: reads served per port.</summary>
    private static async Task<Dictionary<int, int>> ReadSpreadAsync(PostgresCluster cluster, TimeSpan duration)
    {
        var counts = new Dictionary<int, int> { [N1] = 0, [N2] = 0, [N3] = 0 };
        using var stop = new CancellationTokenSource(duration);
        var readers = Enumerable.Range(0, 8).Select(async _ =>
        {
            var mine = new Dictionary<int, int> { [N1] = 0, [N2] = 0, [N3] = 0 };
            for (var i = 0; i < 100_000 && !stop.IsCancellationRequested; i++)
            {
                mine[await ReadPortAsync(cluster)]++;
            }

            return mine;
        }).ToArray();
        foreach (var r in await Task.WhenAll(readers))
        {
            foreach (var (port, n) in r)
            {
                counts[port] += n;
            }
        }

        return counts;
    }
}
