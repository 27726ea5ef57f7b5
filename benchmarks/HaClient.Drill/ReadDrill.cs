using System.Collections.Concurrent;
using System.Diagnostics;
using HaClient.Postgres;
using Npgsql;

namespace HaClient.Drill;

/// <summary>
/// Read-path drills on the plain lab (issue 15), in its zone layout (eng/lab/README.md: n1 15432 primary and n2 15433 in
/// zone a, n3 15434 in zone b, the client in zone a). A read-only workload of <c>--concurrency</c> readers, each read
/// <c>SELECT inet_server_port()</c> (which node served it), bounded by 3 × <c>--budget-ms</c>:
/// <list type="bullet">
/// <item><c>brownout</c>: from <c>--fault-after-s</c> on, n2 is frozen 40 ms of every 50 ms (<c>pg brownout</c>). Reports
/// the read p99 before (the first second left out) and under the brownout. HaClient runs without zones (both replicas
/// equal), plain Npgsql multi-host with <c>Target Session Attributes=prefer-standby</c> and <c>Load Balance Hosts=true</c>
/// (reads spread over both standbys, as HaClient spreads them).</item>
/// <item><c>zone-local</c>: n2 (the local replica) is crashed at <c>--fault-after-s</c> and restarted 5 s later. Reports
/// the share of reads n2 served before the crash, the time from the crash to the first read served elsewhere, and from n2
/// accepting connections again to the first read it served. HaClient with <c>Zones</c> and <c>LocalZone = a</c>;
/// plain Npgsql with prefer-standby and the hosts in their natural order (n2 is its first standby).</item>
/// </list>
/// </summary>
public static class ReadDrill
{
    private const string Credentials = "Username=haclient;Password=haclient-lab-pw;Database=haclient";
    private const int N1 = 15432;
    private const int N2 = 15433;
    private const int N3 = 15434;
    private static readonly string Hosts = $"127.0.0.1:{N1},127.0.0.1:{N2},127.0.0.1:{N3}";

    private readonly record struct Read(double StartMs, double EndMs, int Port);

    public static async Task<DrillReport> RunAsync(DrillArgs args)
    {
        var report = new DrillReport { Scenario = args.Scenario, Client = args.Client, Workload = "read", BudgetMs = args.BudgetMs };
        Console.WriteLine("drill: preparing the plain lab (n1 primary)");
        await PrepareLabAsync(args);
        await using var reader = CreateReader(args);
        await reader.WarmAsync();

        var reads = new ConcurrentQueue<Read>();
        var sw = Stopwatch.StartNew();
        var t0 = Lab.NowUnixMs();
        var duration = TimeSpan.FromSeconds(args.DurationSeconds);
        var workers = Enumerable.Range(0, args.Concurrency).Select(_ => Task.Run(async () =>
        {
            for (var ops = 0; sw.Elapsed < duration && ops < 1_000_000; ops++)
            {
                var start = Lab.NowUnixMs();
                var port = -1;
                try
                {
                    // Bounded twice: a client that does not honour its cancellation (a cancel request to a frozen
                    // server) still lets this reader go on; the read then counts as an error.
                    var bound = TimeSpan.FromMilliseconds(args.BudgetMs * 3);
                    using var cts = new CancellationTokenSource(bound);
                    port = await reader.ReadPortAsync(cts.Token).WaitAsync(bound + TimeSpan.FromSeconds(1));
                }
                catch (Exception)
                {
                }

                reads.Enqueue(new Read(start, Lab.NowUnixMs(), port));
            }
        })).ToArray();

        await Task.Delay(TimeSpan.FromSeconds(args.FaultAfterSeconds));
        double faultAt, recoveredAt = -1;
        if (args.Scenario == "brownout")
        {
            var seconds = (int)Math.Clamp(Math.Ceiling(args.DurationSeconds - args.FaultAfterSeconds + 5), 1, 120);
            faultAt = await Lab.FaultAsync(args, $"pg brownout n2 {seconds}");
            await Task.WhenAll(workers);
            await Lab.RunAsync(args, "pg resume", TimeSpan.FromSeconds(60));
        }
        else
        {
            faultAt = await Lab.FaultAsync(args, "pg crash-replica n2");
            await Task.Delay(TimeSpan.FromSeconds(5));
            using var watching = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var accepting = WaitForReplicaAsync(N2, watching.Token);
            var (code, output) = await Lab.RunAsync(args, "pg up", TimeSpan.FromSeconds(120));
            if (code != 0)
            {
                Console.WriteLine($"drill: pg up failed: {output}");
            }

            recoveredAt = await accepting;
            await Task.WhenAll(workers);
        }

        report.DurationMs = sw.Elapsed.TotalMilliseconds;
        var all = reads.ToArray();
        report.ReadsOk = all.Count(r => r.Port > 0);
        report.ReadErrors = all.Count(r => r.Port < 0);
        report.UserVisibleErrors = report.ReadErrors;
        report.MaxCallMs = all.Length == 0 ? 0 : all.Max(r => r.EndMs - r.StartMs);
        var before = all.Where(r => r.StartMs >= t0 + 1000 && r.EndMs < faultAt).ToArray();
        var after = all.Where(r => r.StartMs >= faultAt).ToArray();
        foreach (var p in new[] { N1, N2, N3 })
        {
            report.Extra[$"reads_before_{p}"] = before.Count(r => r.Port == p);
            report.Extra[$"reads_after_{p}"] = after.Count(r => r.Port == p);
        }

        if (args.Scenario == "brownout")
        {
            report.BaselineReadP99Ms = Percentile(before, 0.99);
            report.ReadP99Ms = Percentile(after, 0.99);
            report.Extra["hedge_ms"] = args.HedgeMs;
            report.Extra["baseline_read_p50_ms"] = Percentile(before, 0.50);
            report.Extra["read_p50_ms"] = Percentile(after, 0.50);
            report.Extra["baseline_read_max_ms"] = before.Length == 0 ? 0 : before.Max(r => r.EndMs - r.StartMs);
            report.Extra["read_max_ms"] = after.Length == 0 ? 0 : after.Max(r => r.EndMs - r.StartMs);
        }
        else
        {
            var served = before.Where(r => r.Port > 0).ToArray();
            report.LocalReadShare = served.Length == 0 ? 0 : Math.Round(served.Count(r => r.Port == N2) / (double)served.Length, 4);
            var spill = after.Where(r => r.Port is > 0 and not N2).OrderBy(r => r.EndMs).FirstOrDefault();
            report.SpillOverMs = spill.Port > 0 ? Math.Round(spill.EndMs - faultAt, 1) : -1;
            var back = recoveredAt < 0 ? default : all.Where(r => r.Port == N2 && r.StartMs >= recoveredAt).OrderBy(r => r.EndMs).FirstOrDefault();
            report.ReturnMs = back.Port > 0 ? Math.Round(back.EndMs - recoveredAt, 1) : -1;
            report.Extra["reads_on_n2_after_crash_before_recovery"] = after.Count(r => r.Port == N2 && (recoveredAt < 0 || r.StartMs < recoveredAt));
        }

        return report;
    }

    private static double Percentile(Read[] reads, double q)
    {
        if (reads.Length == 0)
        {
            return 0;
        }

        var sorted = reads.Select(r => r.EndMs - r.StartMs).Order().ToArray();
        return Math.Round(sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)], 2);
    }

    /// <summary>The lab up, n1 its primary (the zone layout's), every node streaming.</summary>
    private static async Task PrepareLabAsync(DrillArgs args)
    {
        var (code, output) = await Lab.RunAsync(args, "pg up", TimeSpan.FromSeconds(180));
        if (code != 0 || !output.Contains($"primary=n1", StringComparison.Ordinal))
        {
            Console.WriteLine("drill: n1 is not the primary; pg reset");
            (code, output) = await Lab.RunAsync(args, "pg reset", TimeSpan.FromSeconds(240));
            if (code != 0)
            {
                throw new InvalidOperationException("lab.sh pg reset failed: " + output);
            }
        }
    }

    /// <summary>Polls <paramref name="port"/> with a fresh connection every 20 ms; the instant it first answers as a standby.</summary>
    private static async Task<double> WaitForReplicaAsync(int port, CancellationToken ct)
    {
        for (var i = 0; i < 3000 && !ct.IsCancellationRequested; i++)
        {
            try
            {
                await using var c = new NpgsqlConnection($"Host=127.0.0.1;Port={port};{Credentials};Pooling=false;Timeout=1");
                await c.OpenAsync(ct);
                await using var cmd = new NpgsqlCommand("SELECT pg_is_in_recovery()", c);
                if ((bool)(await cmd.ExecuteScalarAsync(ct))!)
                {
                    return Lab.NowUnixMs();
                }
            }
            catch (Exception) when (!ct.IsCancellationRequested)
            {
            }

            await Task.Delay(20, ct).ContinueWith(_ => { });
        }

        return -1;
    }

    private static IReader CreateReader(DrillArgs args) => args.Client switch
    {
        "haclient" => new HaClientReader(args),
        "npgsql" => new NpgsqlReader(args),
        _ => throw new ArgumentException($"--client {args.Client}: the read drills take haclient or npgsql"),
    };

    private interface IReader : IAsyncDisposable
    {
        Task WarmAsync();

        Task<int> ReadPortAsync(CancellationToken ct);
    }

    private static async Task<int> PortAsync(NpgsqlConnection c, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT inet_server_port()", c);
        return (int)(await cmd.ExecuteScalarAsync(ct))!;
    }

    private sealed class HaClientReader : IReader
    {
        private readonly PostgresCluster _cluster;

        public HaClientReader(DrillArgs args)
        {
            var options = new PostgresClusterOptions
            {
                ConnectionString = $"Host={Hosts};{Credentials}",
                ProbeInterval = TimeSpan.FromMilliseconds(200),
                Resilience = { OperationTimeout = TimeSpan.FromMilliseconds(args.BudgetMs), HedgeReadsAfter = args.HedgeMs > 0 ? TimeSpan.FromMilliseconds(args.HedgeMs) : null },
            };
            if (args.Scenario == "zone-local")
            {
                options.Zones["a"] = [$"127.0.0.1:{N1}", $"127.0.0.1:{N2}"];
                options.Zones["b"] = [$"127.0.0.1:{N3}"];
                options.LocalZone = "a";
            }

            _cluster = PostgresCluster.Create(options, name: "drill");
        }

        public async Task WarmAsync()
        {
            await _cluster.WaitForTopologyAsync(TimeSpan.FromSeconds(10));
            for (var i = 0; i < 50 && _cluster.Topology.Hosts.Count(h => h.Role == PostgresRole.Replica) < 2; i++)
            {
                await Task.Delay(100);
            }
        }

        public Task<int> ReadPortAsync(CancellationToken ct) => _cluster.ExecuteReadAsync(PortAsync, ReadConsistency.WithinLagBound, ct);

        public ValueTask DisposeAsync() => _cluster.DisposeAsync();
    }

    private sealed class NpgsqlReader : IReader
    {
        private readonly NpgsqlMultiHostDataSource _source;
        private readonly NpgsqlDataSource _reader;

        public NpgsqlReader(DrillArgs args)
        {
            var balance = args.Scenario == "brownout" ? ";Load Balance Hosts=true" : string.Empty;
            _source = new NpgsqlDataSourceBuilder($"Host={Hosts};{Credentials}{balance}").BuildMultiHost();
            _reader = _source.WithTargetSession(TargetSessionAttributes.PreferStandby);
        }

        public Task WarmAsync() => Task.CompletedTask;

        public async Task<int> ReadPortAsync(CancellationToken ct)
        {
            await using var c = await _reader.OpenConnectionAsync(ct);
            return await PortAsync(c, ct);
        }

        public ValueTask DisposeAsync() => _source.DisposeAsync();
    }
}
