using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using HaClient.Postgres;
using Npgsql;

namespace HaClient.Workload;

/// <summary>
/// The same bounded read-heavy workload (90 % point reads, 10 % single-row updates, N concurrent clients) through each
/// route in turn: HaClient's client-side split, Npgsql multi-host, HAProxy (Patroni REST checks) and pgpool-II.
/// Prints a table and a final JSON line, and writes a markdown report. Every phase is bounded in time.
/// </summary>
public static class Program
{
    private const string Credentials = "Username=haclient;Password=haclient-lab-pw;Database=haclient";
    private const int Rows = 10_000;

    public static async Task<int> Main(string[] args)
    {
        var o = WorkloadOptions.Parse(args);
        Console.Error.WriteLine($"workload: {o.Clients} clients, {o.Duration.TotalSeconds:F0} s per route in {o.Rounds} rounds (+{o.Warmup.TotalSeconds:F0} s warm-up each), {o.ReadPercent}% reads, routes: {string.Join(',', o.Routes)}");
        await PrepareTableAsync();

        // Every route's pools stay open for the whole run; routes run in rounds, each round starting one route later
        // (A B C D, B C D A, C D A B, ...: with as many rounds as routes each route runs once in every slot), so load
        // that drifts during the run (a shared machine) and whatever the slot itself costs fall on every route alike.
        // --order mirror gives the older A B C D, D C B A.
        var targets = new Dictionary<string, RouteTarget>();
        var failures = new Dictionary<string, string>();
        foreach (var route in o.Routes)
        {
            try
            {
                var target = await RouteTarget.CreateAsync(route);
                targets[route] = target;
                await target.ReadAsync(1, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
                await target.WriteAsync(1, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
            }
            catch (Exception e)
            {
                Console.Error.WriteLine($"workload: route {route} unavailable: {e.GetType().Name}: {e.Message}");
                failures[route] = e.Message;
            }
        }

        // Unmeasured pre-warm of every route before round 1, so no route pays for JIT tiering in a measured round (the
        // first route measured used to show ~2x the client CPU per operation of its later rounds).
        foreach (var route in o.Routes)
        {
            if (targets.TryGetValue(route, out var target) && !failures.ContainsKey(route) && o.Prewarm > TimeSpan.Zero)
            {
                await RunRoundAsync(target, o with { Warmup = TimeSpan.Zero }, o.Prewarm);
                Console.Error.WriteLine($"workload: pre-warmed {route} for {o.Prewarm.TotalSeconds:F0} s");
            }
        }

        var samples = o.Routes.ToDictionary(r => r, _ => new List<ClientStats>());
        var cpu = o.Routes.ToDictionary(r => r, _ => new CpuUse(0, 0, 0, 0, 0));
        var perRound = TimeSpan.FromSeconds(o.Duration.TotalSeconds / o.Rounds);
        var roundLines = new List<string>();
        for (var round = 0; round < o.Rounds; round++)
        {
            var order = RoundOrder(o.Routes, round, o.Mirror);
            foreach (var route in order)
            {
                if (!targets.TryGetValue(route, out var target) || failures.ContainsKey(route))
                {
                    continue;
                }

                try
                {
                    var (stats, use) = await RunRoundAsync(target, o, perRound);
                    samples[route].AddRange(stats);
                    cpu[route] = cpu[route] + use;
                    var ops = stats.Sum(s => s.ReadMicros.Count + s.WriteMicros.Count);
                    var roundMicros = stats.SelectMany(s => s.ReadMicros.Concat(s.WriteMicros)).ToArray();
                    Array.Sort(roundMicros);
                    var line = $"round {round + 1}/{o.Rounds} {route}: {ops / perRound.TotalSeconds:F0} ops/s, p99 {Percentile(roundMicros, 0.99):F2} ms, client CPU {use.ClientSeconds * 1e6 / Math.Max(1, ops):F0} µs/op, {use.ContextSwitches / (double)Math.Max(1, ops):F2} context switches/op";
                    roundLines.Add(line);
                    Console.Error.WriteLine($"workload: {line}, machine CPU {use.MachineSeconds * 1e6 / Math.Max(1, ops):F0} µs/op, GC {use.Collections} gen0+ collections, {use.GcPauseMsPerSecond:F1} ms/s paused, {use.PoolWorkItems / (double)Math.Max(1, ops):F2} pool work items/op, errors {stats.Sum(s => s.Errors)}");
                }
                catch (Exception e)
                {
                    Console.Error.WriteLine($"workload: route {route} failed: {e.GetType().Name}: {e.Message}");
                    failures[route] = e.Message;
                }

                // Let the servers settle between routes.
                await Task.Delay(TimeSpan.FromSeconds(1));
            }
        }

        var results = new List<RouteResult>();
        foreach (var route in o.Routes)
        {
            results.Add(failures.TryGetValue(route, out var error)
                ? RouteResult.Unavailable(route, error)
                : Summarize(route, samples[route], o.Duration, targets[route].ReadTargets(), cpu[route]));
        }

        foreach (var t in targets.Values)
        {
            await t.DisposeAsync();
        }

        var baseline = results.FirstOrDefault(r => r.Route == "haclient" && r.Ok);
        var table = FormatTable(results, baseline);
        Console.WriteLine(table);
        var report = FormatReport(o, results, table, roundLines);
        Directory.CreateDirectory(o.OutputDirectory);
        var path = Path.Combine(o.OutputDirectory, $"workload-{DateTime.UtcNow:yyyy-MM-dd}.md");
        await File.WriteAllTextAsync(path, report);
        Console.Error.WriteLine($"workload: wrote {path}");
        Console.WriteLine(JsonSerializer.Serialize(
            new
        {
            clients = o.Clients,
            duration_s = o.Duration.TotalSeconds,
            rounds = o.Rounds,
            read_percent = o.ReadPercent,
            loadavg_before = o.LoadAverage,
            loadavg_after = ReadLoad(),
            routes = results.Select(r => new
            {
                route = r.Route,
                ok = r.Ok,
                ops_per_s = Math.Round(r.OpsPerSecond, 1),
                p50_ms = Math.Round(r.P50Ms, 3),
                p99_ms = Math.Round(r.P99Ms, 3),
                read_p50_ms = Math.Round(r.ReadP50Ms, 3),
                write_p50_ms = Math.Round(r.WriteP50Ms, 3),
                errors = r.Errors,
                machine_cpu_us_per_op = Math.Round(r.MachineCpuMicrosPerOp, 1),
                client_cpu_us_per_op = Math.Round(r.ClientCpuMicrosPerOp, 1),
                client_gc_pause_ms_per_s = Math.Round(r.GcPauseMsPerSecond, 2),
                ops_ratio_to_haclient = baseline is null || !r.Ok ? (double?)null : Math.Round(r.OpsPerSecond / baseline.OpsPerSecond, 3),
                p99_ratio_to_haclient = baseline is null || !r.Ok ? (double?)null : Math.Round(r.P99Ms / baseline.P99Ms, 3),
                error = r.Error,
            }),
        },
            new JsonSerializerOptions { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }));
        return results.All(r => r.Ok) ? 0 : 1;
    }

    private static async Task PrepareTableAsync()
    {
        // Through HaClient, so it lands on whichever node is the primary now.
        await using var cluster = RouteTarget.CreateCluster();
        await cluster.WaitForTopologyAsync(TimeSpan.FromSeconds(10));
        await cluster.ExecuteWriteAsync(static async (c, ct) =>
        {
            await using var cmd = new NpgsqlCommand(
                $"""
                CREATE TABLE IF NOT EXISTS haclient_workload (id int PRIMARY KEY, v bigint NOT NULL);
                INSERT INTO haclient_workload SELECT g, 0 FROM generate_series(1, {Rows}) g ON CONFLICT (id) DO NOTHING;
                """,
                c);
            return await cmd.ExecuteNonQueryAsync(ct);
        });
    }

    private static async Task<(ClientStats[] Stats, CpuUse Cpu)> RunRoundAsync(RouteTarget target, WorkloadOptions o, TimeSpan duration)
    {
        var warmupEnd = Stopwatch.GetTimestamp() + (long)(o.Warmup.TotalSeconds * Stopwatch.Frequency);
        var measureEnd = warmupEnd + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        using var hardStop = new CancellationTokenSource(o.Warmup + duration + TimeSpan.FromSeconds(15));
        var clients = new Task<ClientStats>[o.Clients];
        for (var i = 0; i < clients.Length; i++)
        {
            var seed = i * 7919 + 17 + Environment.TickCount;
            clients[i] = Task.Run(() => ClientLoopAsync(target, o.ReadPercent, seed, warmupEnd, measureEnd, hardStop.Token));
        }

        // CPU over the measured window: the whole machine's busy time (/proc/stat) and this process's own.
        var cpu = MeasureCpuAsync(warmupEnd, measureEnd);
        var stats = await Task.WhenAll(clients);
        return (stats, await cpu);
    }

    private static async Task<CpuUse> MeasureCpuAsync(long from, long to)
    {
        await DelayUntilAsync(from);
        var machine0 = MachineBusySeconds();
        var client0 = Process.GetCurrentProcess().TotalProcessorTime;
        var pause0 = GC.GetTotalPauseDuration();
        var gcs0 = GC.CollectionCount(0);
        var items0 = ThreadPool.CompletedWorkItemCount;
        var switches0 = ContextSwitches();
        await DelayUntilAsync(to);
        return new CpuUse(
            MachineBusySeconds() - machine0,
            (Process.GetCurrentProcess().TotalProcessorTime - client0).TotalSeconds,
            (GC.GetTotalPauseDuration() - pause0).TotalSeconds,
            GC.CollectionCount(0) - gcs0,
            Stopwatch.GetElapsedTime(from, to).TotalSeconds,
            ThreadPool.CompletedWorkItemCount - items0,
            ContextSwitches() - switches0);
    }

    /// <summary>This process's context switches so far, voluntary and not, over all its threads, ended ones included
    /// (<c>getrusage(RUSAGE_SELF)</c>; summing the live threads' /proc counts lost the threads that ended).</summary>
    private static unsafe long ContextSwitches()
    {
        // struct rusage on 64-bit Linux: two struct timevals (2 longs each), then 14 longs; ru_nvcsw and ru_nivcsw last.
        var usage = stackalloc long[18];
        return GetResourceUsage(0, usage) == 0 ? usage[16] + usage[17] : 0;
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "getrusage")]
    private static extern unsafe int GetResourceUsage(int who, long* usage);

    private static Task DelayUntilAsync(long timestamp)
    {
        var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), timestamp);
        return wait > TimeSpan.Zero ? Task.Delay(wait) : Task.CompletedTask;
    }

    /// <summary>Busy CPU seconds of the whole machine since boot (all CPUs; /proc/stat, in USER_HZ = 100 ticks/s).</summary>
    private static double MachineBusySeconds()
    {
        if (!File.Exists("/proc/stat"))
        {
            return double.NaN;
        }

        var f = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        // cpu user nice system idle iowait irq softirq steal ...
        long busy = 0;
        foreach (var i in new[] { 1, 2, 3, 6, 7, 8 })
        {
            busy += long.Parse(f[i], CultureInfo.InvariantCulture);
        }

        return busy / 100.0;
    }

    private static RouteResult Summarize(string route, List<ClientStats> stats, TimeSpan measured, string readTargets, CpuUse cpu)
    {
        var reads = stats.SelectMany(s => s.ReadMicros).ToArray();
        var writes = stats.SelectMany(s => s.WriteMicros).ToArray();
        var all = reads.Concat(writes).ToArray();
        Array.Sort(all);
        Array.Sort(reads);
        Array.Sort(writes);
        return new RouteResult(
            route,
            true,
            all.Length / measured.TotalSeconds,
            Percentile(all, 0.50),
            Percentile(all, 0.99),
            Percentile(reads, 0.50),
            Percentile(reads, 0.99),
            Percentile(writes, 0.50),
            Percentile(writes, 0.99),
            stats.Sum(s => s.Errors),
            readTargets,
            cpu.MachineSeconds * 1e6 / Math.Max(1, all.Length),
            cpu.ClientSeconds * 1e6 / Math.Max(1, all.Length),
            cpu.GcPauseMsPerSecond,
            null);
    }

    private static async Task<ClientStats> ClientLoopAsync(RouteTarget target, int readPercent, int seed, long warmupEnd, long measureEnd, CancellationToken hardStop)
    {
        var random = new Random(seed);
        var stats = new ClientStats();
        while (!hardStop.IsCancellationRequested)
        {
            var start = Stopwatch.GetTimestamp();
            if (start >= measureEnd)
            {
                break;
            }

            var isRead = random.Next(100) < readPercent;
            var id = random.Next(1, Rows + 1);
            try
            {
                if (isRead)
                {
                    await target.ReadAsync(id, hardStop);
                }
                else
                {
                    await target.WriteAsync(id, hardStop);
                }
            }
            catch (Exception) when (!hardStop.IsCancellationRequested)
            {
                if (start >= warmupEnd)
                {
                    stats.Errors++;
                }

                continue;
            }

            var end = Stopwatch.GetTimestamp();
            // Count operations that started inside the window.
            if (start >= warmupEnd)
            {
                var micros = (end - start) * 1_000_000.0 / Stopwatch.Frequency;
                (isRead ? stats.ReadMicros : stats.WriteMicros).Add(micros);
            }
        }

        return stats;
    }

    private static string CpuModel()
        => File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "cpu n/a"
            : "cpu n/a";

    private static string ReadLoad()
        => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

    private static double Percentile(double[] sortedMicros, double p)
        => sortedMicros.Length == 0 ? double.NaN : sortedMicros[Math.Min(sortedMicros.Length - 1, (int)Math.Ceiling(p * sortedMicros.Length) - 1)] / 1000.0;

    private static string FormatTable(List<RouteResult> results, RouteResult? baseline)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| route | ops/s | p50 ms | p99 ms | read p50 / p99 ms | write p50 / p99 ms | errors | ops/s vs HaClient | p99 vs HaClient | machine CPU µs/op | client CPU µs/op | client GC pause ms/s | reads went to |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var r in results)
        {
            if (!r.Ok)
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"| {RouteResult.Label(r.Route)} | unavailable: {r.Error} | | | | | | | | | | | |");
                continue;
            }

            var opsRatio = baseline is null ? "-" : (r.OpsPerSecond / baseline.OpsPerSecond).ToString("F2", CultureInfo.InvariantCulture);
            var p99Ratio = baseline is null ? "-" : (r.P99Ms / baseline.P99Ms).ToString("F2", CultureInfo.InvariantCulture);
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {RouteResult.Label(r.Route)} | {r.OpsPerSecond:F0} | {r.P50Ms:F3} | {r.P99Ms:F3} | {r.ReadP50Ms:F3} / {r.ReadP99Ms:F3} | {r.WriteP50Ms:F3} / {r.WriteP99Ms:F3} | {r.Errors} | {opsRatio} | {p99Ratio} | {r.MachineCpuMicrosPerOp:F0} | {r.ClientCpuMicrosPerOp:F0} | {r.GcPauseMsPerSecond:F1} | {r.ReadTargets} |");
        }

        return sb.ToString();
    }

    private static string FormatReport(WorkloadOptions o, List<RouteResult> results, string table, List<string> roundLines)
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"# Workload comparison, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Command: `{o.Command}`");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Workload: {o.Clients} concurrent clients, {o.ReadPercent}% `SELECT v FROM haclient_workload WHERE id = $1` / {100 - o.ReadPercent}% `UPDATE haclient_workload SET v = v + 1 WHERE id = $1` (uniform ids over {Rows} rows), each client one operation at a time (pooled open, command, close), {o.Duration.TotalSeconds:F0} s measured per route in {o.Rounds} rounds (each preceded by {o.Warmup.TotalSeconds:F0} s unmeasured warm-up, and every route pre-warmed for {o.Prewarm.TotalSeconds:F0} s before round 1); routes run one after another in one process against the lab's Patroni cluster (PG 15442-15444), {(o.Mirror ? "in reverse order every other round (A B C D, D C B A)" : "each round starting one route later (A B C D, B C D A, C D A B, D A B C)")} so drifting load from other processes, and what a slot in the order costs, falls on all routes alike; every route's pools stay open for the whole run. Latency is per operation including the pooled open. Machine CPU is the whole machine's busy time (/proc/stat: client, proxies, PostgreSQL, kernel) per operation; client CPU is this process's; GC pause is this process's.");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Load average before the run (1/5/15 min): {o.LoadAverage}; after: {ReadLoad()}");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Measurement lock: {Environment.GetEnvironmentVariable("HACLIENT_WORKLOAD_LOCK") ?? "not taken (run directly, not through eng/workload.sh)"}");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Machine: {CpuModel()}, {Environment.ProcessorCount} logical CPUs, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}; the client, the proxies and the three PostgreSQL servers share this machine.");
        sb.AppendLine();
        sb.AppendLine("Routes:");
        sb.AppendLine("- **HaClient**: `PostgresCluster` over the three nodes with Patroni REST URLs; reads `ExecuteReadAsync` (WithinLagBound, least-busy replica), writes `ExecuteWriteAsync`.");
        sb.AppendLine("- **HaClient through PgBouncer**: the same cluster with hosts `127.0.0.1:1544N via 127.0.0.1:1546N`: requests through the lab's PgBouncer 1.18 beside each node (transaction mode, `default_pool_size = 25`), the monitor on the servers; each write's standby check is a round trip (PgBouncer does not pass `in_hot_standby` on).");
        sb.AppendLine("- **Npgsql multi-host through PgBouncer**: as Npgsql multi-host, over the three poolers, `No Reset On Close=true`.");
        sb.AppendLine("- **Npgsql multi-host**: one `NpgsqlMultiHostDataSource` (`Load Balance Hosts=true`); reads `WithTargetSession(PreferStandby)`, writes `WithTargetSession(Primary)`.");
        sb.AppendLine("- **HAProxy**: 127.0.0.1:15500 writes (`GET /primary` check on Patroni REST), 127.0.0.1:15501 reads (`GET /replica`, `balance leastconn`); an Npgsql pool per port.");
        sb.AppendLine("- **pgpool-II**: 127.0.0.1:15600, streaming-replication mode, `load_balance_mode = on`, `statement_level_load_balance = on`, equal backend weights (reads may go to the primary too), `num_init_children = 32`; one Npgsql pool.");
        sb.AppendLine();
        sb.AppendLine(table);
        sb.AppendLine();
        sb.AppendLine("Rounds (throughput, p99, client CPU and the process's context switches per operation of each route in each round, in the order they ran):");
        foreach (var line in roundLines)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"- {line}");
        }

        return sb.ToString();
    }

    /// <summary>CPU seconds used in measured windows: the whole machine's, and the client process's.</summary>
    private readonly record struct CpuUse(double MachineSeconds, double ClientSeconds, double GcPauseSeconds, int Collections, double WallSeconds, long PoolWorkItems = 0, long ContextSwitches = 0)
    {
        /// <summary>The client's GC pauses as milliseconds per second of the measured window.</summary>
        public double GcPauseMsPerSecond => WallSeconds <= 0 ? double.NaN : GcPauseSeconds * 1000 / WallSeconds;

        public static CpuUse operator +(CpuUse a, CpuUse b)
            => new(a.MachineSeconds + b.MachineSeconds, a.ClientSeconds + b.ClientSeconds, a.GcPauseSeconds + b.GcPauseSeconds, a.Collections + b.Collections, a.WallSeconds + b.WallSeconds, a.PoolWorkItems + b.PoolWorkItems, a.ContextSwitches + b.ContextSwitches);
    }

    private sealed class ClientStats
    {
        public List<double> ReadMicros { get; } = new(16_384);

        public List<double> WriteMicros { get; } = new(2_048);

        public int Errors { get; set; }
    }

    private sealed record RouteResult(string Route, bool Ok, double OpsPerSecond, double P50Ms, double P99Ms, double ReadP50Ms, double ReadP99Ms, double WriteP50Ms, double WriteP99Ms, int Errors, string ReadTargets, double MachineCpuMicrosPerOp, double ClientCpuMicrosPerOp, double GcPauseMsPerSecond, string? Error)
    {
        public static RouteResult Unavailable(string route, string error)
            => new(route, false, 0, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, 0, "", double.NaN, double.NaN, double.NaN, error.ReplaceLineEndings(" "));

        public static string Label(string route) => route switch
        {
            "haclient" => "HaClient (client-side split)",
            "npgsql" => "Npgsql multi-host",
            "haclient-pgbouncer" => "HaClient through PgBouncer (one per node, transaction mode)",
            "npgsql-pgbouncer" => "Npgsql multi-host through PgBouncer",
            "haproxy" => "HAProxy + Patroni REST",
            "pgpool" => "pgpool-II",
            "raw-split" => "raw pools, reads alternate over the replicas (no HA)",
            "raw-one-replica" => "raw pools, every read to one replica (no HA)",
            _ => route,
        };
    }

    /// <summary>One route: how a read and a write reach the cluster.</summary>
    private sealed class RouteTarget : IAsyncDisposable
    {
        private readonly PostgresCluster? _cluster;
        private readonly NpgsqlDataSource[] _reads;
        private int _nextRead;
        private readonly NpgsqlDataSource? _write;
        private readonly IAsyncDisposable[] _owned;
        private readonly Dictionary<int, long> _readPorts = new();

        private RouteTarget(PostgresCluster? cluster, NpgsqlDataSource? read, NpgsqlDataSource? write, params IAsyncDisposable[] owned)
            : this(cluster, read is null ? [] : [read], write, owned)
        {
        }

        private RouteTarget(PostgresCluster? cluster, NpgsqlDataSource[] reads, NpgsqlDataSource? write, IAsyncDisposable[] owned)
        {
            _cluster = cluster;
            _reads = reads;
            _write = write;
            _owned = owned;
        }

        /// <param name="viaPgBouncer">Requests through the lab's PgBouncer in front of each node (15462-15464, transaction
        /// mode); the monitor still watches the servers.</param>
        public static PostgresCluster CreateCluster(bool viaPgBouncer = false) => PostgresCluster.Create(new PostgresClusterOptions
        {
            ConnectionString = $"Host=127.0.0.1:15442,127.0.0.1:15443,127.0.0.1:15444;{Credentials};Maximum Pool Size=100",
            Hosts = viaPgBouncer ? ["127.0.0.1:15442 via 127.0.0.1:15462", "127.0.0.1:15443 via 127.0.0.1:15463", "127.0.0.1:15444 via 127.0.0.1:15464"] : [],
            PatroniUrls = { "http://127.0.0.1:18008", "http://127.0.0.1:18009", "http://127.0.0.1:18010" },
        });

        public static async Task<RouteTarget> CreateAsync(string route)
        {
            switch (route)
            {
                case "haclient":
                case "haclient-pgbouncer":
                {
                    var cluster = CreateCluster(viaPgBouncer: route == "haclient-pgbouncer");
                    await cluster.WaitForTopologyAsync(TimeSpan.FromSeconds(10));
                    return new RouteTarget(cluster, null, null, cluster);
                }

                case "npgsql":
                {
                    var multi = new NpgsqlDataSourceBuilder($"Host=127.0.0.1:15442,127.0.0.1:15443,127.0.0.1:15444;{Credentials};Load Balance Hosts=true;Maximum Pool Size=100").BuildMultiHost();
                    return new RouteTarget(null, multi.WithTargetSession(TargetSessionAttributes.PreferStandby), multi.WithTargetSession(TargetSessionAttributes.Primary), multi);
                }
                case "npgsql-pgbouncer":
                {
                    // Npgsql multi-host over the poolers, with Npgsql's advice behind PgBouncer (No Reset On Close).
                    var multi = new NpgsqlDataSourceBuilder($"Host=127.0.0.1:15462,127.0.0.1:15463,127.0.0.1:15464;{Credentials};Load Balance Hosts=true;Maximum Pool Size=100;No Reset On Close=true").BuildMultiHost();
                    return new RouteTarget(null, multi.WithTargetSession(TargetSessionAttributes.PreferStandby), multi.WithTargetSession(TargetSessionAttributes.Primary), multi);
                }

                case "raw-one-replica":
                case "raw-split":
                {
                    // Diagnostics, not HA routes: raw pools to the primary and the replicas found once at start, with no
                    // monitoring, breakers or budgets. "raw-split" alternates reads over the replicas (what HaClient's
                    // split costs without its HA machinery); "raw-one-replica" sends every read to one replica.
                    int? primary = null;
                    var replicas = new List<int>();
                    foreach (var port in new[] { 15442, 15443, 15444 })
                    {
                        await using var c = new NpgsqlConnection($"Host=127.0.0.1;Port={port};{Credentials};Pooling=false");
                        await c.OpenAsync();
                        if (c.PostgresParameters.TryGetValue("in_hot_standby", out var v) && v == "on")
                        {
                            replicas.Add(port);
                        }
                        else
                        {
                            primary ??= port;
                        }
                    }

                    if (primary is null || replicas.Count == 0)
                    {
                        throw new InvalidOperationException("needs a primary and a replica");
                    }

                    var reads = (route == "raw-split" ? replicas : replicas.Take(1))
                        .Select(p => NpgsqlDataSource.Create($"Host=127.0.0.1;Port={p};{Credentials};Maximum Pool Size=100"))
                        .ToArray();
                    var write = NpgsqlDataSource.Create($"Host=127.0.0.1;Port={primary};{Credentials};Maximum Pool Size=100");
                    return new RouteTarget(null, reads, write, [.. reads, write]);
                }

                case "haproxy":
                {
                    var read = NpgsqlDataSource.Create($"Host=127.0.0.1;Port=15501;{Credentials};Maximum Pool Size=100");
                    var write = NpgsqlDataSource.Create($"Host=127.0.0.1;Port=15500;{Credentials};Maximum Pool Size=100");
                    return new RouteTarget(null, read, write, read, write);
                }

                case "pgpool":
                {
                    // pgpool has num_init_children = 32 sessions: keep the client pool below it.
                    var both = NpgsqlDataSource.Create($"Host=127.0.0.1;Port=15600;{Credentials};Maximum Pool Size=30");
                    return new RouteTarget(null, both, both, both);
                }

                default:
                    throw new ArgumentException($"unknown route '{route}' (haclient, haclient-pgbouncer, npgsql, npgsql-pgbouncer, haproxy, pgpool; diagnostics: raw-split, raw-one-replica)");
            }
        }

        public Task<long> ReadAsync(int id, CancellationToken ct)
            => _cluster is not null
                ? _cluster.ExecuteReadAsync((c, t) => ReadOnAsync(c, id, t), ReadConsistency.WithinLagBound, ct)
                : ReadOnSourceAsync(id, ct);

        public Task<int> WriteAsync(int id, CancellationToken ct)
            => _cluster is not null
                ? _cluster.ExecuteWriteAsync((c, t) => WriteOnAsync(c, id, t), ct)
                : WriteOnSourceAsync(id, ct);

        /// <summary>Where reads went, by backend port (sampled: one read in 64 asks the server for its port).</summary>
        public string ReadTargets()
        {
            lock (_readPorts)
            {
                var total = _readPorts.Values.Sum();
                return total == 0 ? "-" : string.Join(", ", _readPorts.OrderBy(p => p.Key).Select(p => $"{p.Key} {100.0 * p.Value / total:F0}%"));
            }
        }

        private async Task<long> ReadOnSourceAsync(int id, CancellationToken ct)
        {
            var source = _reads.Length == 1 ? _reads[0] : _reads[(int)((uint)Interlocked.Increment(ref _nextRead) % (uint)_reads.Length)];
            await using var connection = await source.OpenConnectionAsync(ct);
            return await ReadOnAsync(connection, id, ct);
        }

        private async Task<int> WriteOnSourceAsync(int id, CancellationToken ct)
        {
            await using var connection = await _write!.OpenConnectionAsync(ct);
            return await WriteOnAsync(connection, id, ct);
        }

        private async Task<long> ReadOnAsync(NpgsqlConnection connection, int id, CancellationToken ct)
        {
            if ((id & 63) == 0)
            {
                // Sample the serving backend (same statement shape, so pgpool balances it like the others).
                await using var probe = new NpgsqlCommand("SELECT inet_server_port()", connection);
                var port = (int)(await probe.ExecuteScalarAsync(ct))!;
                lock (_readPorts)
                {
                    _readPorts[port] = _readPorts.GetValueOrDefault(port) + 1;
                }
            }

            await using var cmd = new NpgsqlCommand("SELECT v FROM haclient_workload WHERE id = $1", connection) { Parameters = { new() { Value = id } } };
            return (long)(await cmd.ExecuteScalarAsync(ct))!;
        }

        private static async Task<int> WriteOnAsync(NpgsqlConnection connection, int id, CancellationToken ct)
        {
            await using var cmd = new NpgsqlCommand("UPDATE haclient_workload SET v = v + 1 WHERE id = $1", connection) { Parameters = { new() { Value = id } } };
            return await cmd.ExecuteNonQueryAsync(ct);
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var d in _owned)
            {
                await d.DisposeAsync();
            }
        }
    }

    /// <summary>The routes in the order they run in <paramref name="round"/> (0-based): rotated by one per round, or, with
    /// <paramref name="mirror"/>, reversed every other round.</summary>
    private static string[] RoundOrder(string[] routes, int round, bool mirror)
    {
        if (mirror)
        {
            return round % 2 == 0 ? routes : routes.Reverse().ToArray();
        }

        var order = new string[routes.Length];
        for (var i = 0; i < routes.Length; i++)
        {
            order[i] = routes[(round + i) % routes.Length];
        }

        return order;
    }

    private sealed record WorkloadOptions(int Clients, TimeSpan Duration, TimeSpan Warmup, TimeSpan Prewarm, int Rounds, int ReadPercent, string[] Routes, string OutputDirectory, string LoadAverage, string Command, bool Mirror)
    {
        public static WorkloadOptions Parse(string[] args)
        {
            var clients = 16;
            var duration = 60.0;
            var warmup = 3.0;
            var prewarm = 10.0;
            var rounds = 4;
            var readPercent = 90;
            var mirror = false;
            var routes = new[] { "haclient", "haclient-pgbouncer", "npgsql", "haproxy", "pgpool" };
            var output = "benchmarks/results";
            var command = Environment.GetEnvironmentVariable("HACLIENT_WORKLOAD_COMMAND") ?? "dotnet run -c Release --project benchmarks/HaClient.Workload -- " + string.Join(' ', args);
            for (var i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--clients": clients = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--duration": duration = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--warmup": warmup = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--prewarm": prewarm = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--rounds": rounds = Math.Max(1, int.Parse(Next(), CultureInfo.InvariantCulture)); break;
                    case "--read-percent": readPercent = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--routes": routes = Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries); break;
                    case "--out": output = Next(); break;
                    case "--order":
                        mirror = Next() switch
                        {
                            "rotate" => false,
                            "mirror" => true,
                            var other => throw new ArgumentException($"--order is rotate or mirror, not '{other}'"),
                        };
                        break;
                    default: throw new ArgumentException($"unknown argument {args[i]} (--clients N --duration S --warmup S --prewarm S --rounds R --read-percent P --routes a,b --order rotate|mirror --out DIR)");
                }
            }

            var load = ReadLoad();
            return new WorkloadOptions(clients, TimeSpan.FromSeconds(duration), TimeSpan.FromSeconds(warmup), TimeSpan.FromSeconds(prewarm), rounds, readPercent, routes, output, load, command, mirror);
        }
    }
}
