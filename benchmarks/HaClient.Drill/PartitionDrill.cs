using System.Collections.Concurrent;
using System.Diagnostics;
using HaClient.Postgres;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace HaClient.Drill;

/// <summary>
/// PostgreSQL drills on the lab's net part (Patroni p1-p3 in network namespaces, eng/lab/netns.sh):
/// <list type="bullet">
/// <item><c>partition-primary</c>: the leader cut off from everyone (bridge port down);</item>
/// <item><c>partition-dcs</c>: the leader cut off from etcd only; the client still reaches it. The key figure is
/// <c>old_leader_acks_after_majority</c>: writes the old leader acknowledged after a majority of Patroni's REST endpoints
/// named another leader;</item>
/// <item><c>partition-client</c>: the leader cut off from the client only (Patroni sees nothing wrong);</item>
/// <item><c>disk-full</c>: the leader's data filesystem filled (WAL elsewhere): writes must fail with a clear error and
/// not be retried, reads keep working.</item>
/// </list>
/// Clients: <c>haclient</c> (PostgresCluster with the three Patroni REST addresses) or <c>npgsql</c> (plain multi-host,
/// <c>Target Session Attributes=read-write</c>).
/// </summary>
public static class PartitionDrill
{
    private const string Credentials = "Username=haclient;Password=haclient-lab-pw;Database=haclient";
    internal static readonly string[] Nodes = ["p1", "p2", "p3"];

    internal static string Addr(string node) => "10.213.0." + (10 + int.Parse(node[1..], System.Globalization.CultureInfo.InvariantCulture));

    public static async Task<DrillReport> RunAsync(DrillArgs args)
    {
        var report = new DrillReport { Scenario = args.Scenario, Client = args.Client, Workload = args.Workload, BudgetMs = args.BudgetMs };
        Console.WriteLine("drill: preparing the lab's net part (Patroni in network namespaces)");
        await Must(args, "net up patroni", 120);
        var (_, leaderOut) = await Lab.RunAsync(args, "net leader", TimeSpan.FromSeconds(10));
        var old = leaderOut.Split('\n', StringSplitOptions.TrimEntries).First(l => Nodes.Contains(l));
        var oldAddr = Addr(old);
        Console.WriteLine($"drill: leader {old} ({oldAddr})");
        var diskFull = args.Scenario == "disk-full";
        await using (var setup = new NpgsqlConnection($"Host={oldAddr};{Credentials};Timeout=5"))
        {
            await setup.OpenAsync();
            await using var cmd = new NpgsqlCommand("CREATE TABLE IF NOT EXISTS drill_writes(id bigint PRIMARY KEY, pad text); TRUNCATE drill_writes", setup);
            await cmd.ExecuteNonQueryAsync();
        }

        await using var client = await PartitionClient.CreateAsync(args);
        using var stop = new CancellationTokenSource();
        var observer = new PatroniObserver(old);
        var observerTask = observer.RunAsync(stop.Token);
        var acks = new ConcurrentQueue<(long Id, string Addr, double Started, double At)>();
        var errors = new ConcurrentDictionary<string, long>();
        long nextId = 0, failed = 0, unknown = 0, readsOk = 0, readErrors = 0, diskFullErrors = 0, overBudget = 0;
        double maxCallMs = 0;
        var slowest = "";
        var maxLock = new Lock();
        var sw = Stopwatch.StartNew();
        var deadline = TimeSpan.FromSeconds(args.DurationSeconds);
        var pad = diskFull ? new string('x', 4000) : null;
        var stalls = StallCatcher.StartFromEnvironment();
        // With the stall catcher on, a call in flight for longer than budget + 600 ms also triggers a dump (what it waits on).
        var inFlight = new ConcurrentDictionary<int, long>();
        if (stalls is not null)
        {
            stalls.SlowCall = () => inFlight.Values.Select(t => Stopwatch.GetElapsedTime(t).TotalMilliseconds).DefaultIfEmpty(0).Max() is var ms && ms > args.BudgetMs + 600 ? $"a call in flight for {ms:0} ms" : null;
        }

        var workerIds = 0;
        // Every call past budget + 500 ms, with when it started (ms after the fault), what it was and how it ended, for
        // the report: a slow call's cause is found from these (docs/partitions.md, disk-full).
        var slowCalls = new ConcurrentQueue<(double StartedAt, double Ms, string Outcome)>();

        var workers = Enumerable.Range(0, args.Concurrency).Select(_ => Task.Run(async () =>
        {
            var me = Interlocked.Increment(ref workerIds);
            for (var ops = 0; sw.Elapsed < deadline && ops < 200_000; ops++)
            {
                var read = args.Workload == "mixed" && ops % 2 == 1;
                var id = read ? 0 : Interlocked.Increment(ref nextId);
                var started = Lab.NowUnixMs();
                var t0 = Stopwatch.GetTimestamp();
                inFlight[me] = t0;
                var outcome = read ? "read ok" : "write ok";
                try
                {
                    using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(args.BudgetMs * 3));
                    if (read)
                    {
                        await client.ReadAsync(cts.Token);
                        Interlocked.Increment(ref readsOk);
                    }
                    else
                    {
                        var addr = await client.WriteAsync(id, pad, cts.Token);
                        acks.Enqueue((id, addr, started, Lab.NowUnixMs()));
                    }
                }
                catch (Exception e)
                {
                    Interlocked.Increment(ref read ? ref readErrors : ref failed);
                    if (e is WriteOutcomeUnknownException)
                    {
                        Interlocked.Increment(ref unknown);
                    }

                    outcome = (read ? "read: " : "write: ") + Describe(e);
                    errors.AddOrUpdate(Describe(e), 1, (_, n) => n + 1);
                    if (SqlState(e) == PostgresErrorCodes.DiskFull)
                    {
                        Interlocked.Increment(ref diskFullErrors);
                    }

                    await Task.Delay(20);
                }

                inFlight.TryRemove(me, out long _);
                var ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                if (ms > args.BudgetMs + 500)
                {
                    Interlocked.Increment(ref overBudget);
                    slowCalls.Enqueue((started, ms, outcome));
                }

                lock (maxLock)
                {
                    if (ms > maxCallMs)
                    {
                        maxCallMs = ms;
                        slowest = outcome;
                    }
                }
            }
        })).ToArray();

        await Task.Delay(TimeSpan.FromSeconds(args.FaultAfterSeconds));
        var verb = args.Scenario switch
        {
            "partition-primary" => $"net cut {old} all",
            "partition-dcs" => $"net cut {old} dcs",
            "partition-client" => $"net cut {old} client",
            "disk-full" => $"net fill {old}",
            _ => throw new ArgumentException(args.Scenario),
        };
        var faultAt = await Lab.FaultAsync(args, verb);
        observer.FaultAt = faultAt;
        Console.WriteLine($"drill: {verb} at {faultAt}");
        await Task.WhenAll(workers);
        await Lab.FaultAsync(args, diskFull ? $"net unfill {old}" : $"net heal {old}");
        await stop.CancelAsync();
        await observerTask;
        stalls?.Stop();

        var all = acks.ToArray();
        var onNew = all.Where(a => a.Addr != oldAddr && a.At > faultAt).OrderBy(a => a.At).FirstOrDefault();
        report.WritesAcked = all.Length;
        report.WritesFailed = failed;
        report.WritesOutcomeUnknown = unknown;
        report.Extra["calls_over_budget_plus_500ms"] = overBudget;
        report.ReadsOk = readsOk;
        report.ReadErrors = readErrors;
        report.UserVisibleErrors = failed + readErrors;
        report.MaxCallMs = maxCallMs;
        report.DurationMs = sw.Elapsed.TotalMilliseconds;
        if (onNew.Id != 0)
        {
            report.WindowMs = onNew.At - faultAt;
            if (observer.NewWritableAt > 0)
            {
                report.DetectMs = Math.Max(0, onNew.At - observer.NewWritableAt);
            }
        }

        // Acknowledged by the old leader after it was no longer writable (the observer saw it read-only or unreachable
        // from the root namespace is not proof for partition-primary, so only a read-only answer counts) or after the
        // REST majority named another leader.
        report.WrongRoleWrites = observer.OldReadOnlyAt > 0 ? all.Count(a => a.Addr == oldAddr && a.Started > observer.OldReadOnlyAt) : 0;
        report.Extra["old_leader_acks_after_majority"] = observer.MajorityAt > 0 ? all.Count(a => a.Addr == oldAddr && a.At > observer.MajorityAt) : 0;
        report.Extra["old_leader_acks_after_fault"] = all.Count(a => a.Addr == oldAddr && a.At > faultAt);
        report.Extra["rest_majority_new_leader_ms"] = observer.MajorityAt > 0 ? observer.MajorityAt - faultAt : -1;
        report.Extra["old_leader_read_only_ms"] = observer.OldReadOnlyAt > 0 ? observer.OldReadOnlyAt - faultAt : -1;
        report.Extra["new_leader_writable_ms"] = observer.NewWritableAt > 0 ? observer.NewWritableAt - faultAt : -1;
        var lastOld = all.Where(a => a.Addr == oldAddr).Select(a => a.At).DefaultIfEmpty(0).Max();
        report.Extra["last_old_leader_ack_ms"] = lastOld > 0 ? lastOld - faultAt : -1;
        if (diskFull)
        {
            report.Extra["disk_full_errors"] = diskFullErrors;
            report.Extra["writes_acked_after_fill"] = all.Count(a => a.Started > faultAt);
        }

        report.LostAcked = await CountLostAsync(all.Select(a => a.Id).ToArray());
        Console.WriteLine($"   slowest call ({maxCallMs:0} ms): {slowest}");
        foreach (var (startedAt, ms, outcome) in slowCalls.Take(20))
        {
            Console.WriteLine($"   call past budget + 500 ms: started {startedAt - faultAt:0} ms after the fault, {ms:0} ms, {outcome}");
        }

        foreach (var (k, v) in errors.OrderByDescending(e => e.Value).Take(4))
        {
            Console.WriteLine($"   error x{v}: {k}");
        }

        return report;
    }

    private static async Task Must(DrillArgs args, string verbs, int seconds)
    {
        var (code, output) = await Lab.RunAsync(args, verbs, TimeSpan.FromSeconds(seconds));
        if (code != 0)
        {
            throw new InvalidOperationException($"lab.sh {verbs} failed: {output}");
        }
    }

    /// <summary>Acknowledged ids missing on the leader once the cluster has settled (-1 when no leader within 60 s).</summary>
    private static async Task<long> CountLostAsync(long[] ids)
    {
        var until = Stopwatch.StartNew();
        while (until.Elapsed < TimeSpan.FromSeconds(60))
        {
            foreach (var n in Nodes)
            {
                try
                {
                    await using var c = new NpgsqlConnection($"Host={Addr(n)};{Credentials};Timeout=2;Command Timeout=10");
                    await c.OpenAsync();
                    await using var cmd = new NpgsqlCommand("SELECT CASE WHEN pg_is_in_recovery() THEN NULL ELSE (SELECT count(*) FROM unnest(@ids) AS i(id) WHERE NOT EXISTS (SELECT 1 FROM drill_writes w WHERE w.id = i.id)) END", c);
                    cmd.Parameters.AddWithValue("ids", ids);
                    if (await cmd.ExecuteScalarAsync() is long lost)
                    {
                        return lost;
                    }
                }
                catch (Exception e) when (until.Elapsed > TimeSpan.FromSeconds(55))
                {
                    Console.WriteLine($"drill: lost-write check on {n}: {e.GetType().Name}: {e.Message}");
                }
                catch (Exception)
                {
                }
            }

            await Task.Delay(500);
        }

        return -1;
    }

    internal static string? SqlState(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            if (x is PostgresException pg)
            {
                return pg.SqlState;
            }
        }

        return null;
    }

    private static string Describe(Exception e)
    {
        var s = SqlState(e);
        var msg = e.InnerException is { } inner ? $"{e.GetType().Name} <- {inner.GetType().Name}: {inner.Message}" : $"{e.GetType().Name}: {e.Message}";
        msg = msg.Length > 160 ? msg[..160] : msg;
        return s is null ? msg : $"[{s}] {msg}";
    }

    /// <summary>The two clients, as a user would configure them for the three nodes.</summary>
    private abstract class PartitionClient : IAsyncDisposable
    {
        public static async Task<PartitionClient> CreateAsync(DrillArgs args)
        {
            var hosts = string.Join(',', Nodes.Select(n => Addr(n) + ":5432"));
            if (args.Client == "npgsql")
            {
                // Plain Npgsql multi-host as its docs advise: one multi-host source, the read-write view for writes.
                var multi = new NpgsqlDataSourceBuilder($"Host={hosts};{Credentials}").BuildMultiHost();
                return new NpgsqlPartitionClient(multi, multi.WithTargetSession(TargetSessionAttributes.ReadWrite));
            }

            if (args.Client != "haclient")
            {
                throw new ArgumentException($"--client {args.Client}: partition drills take haclient or npgsql");
            }

            var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; })
                .SetMinimumLevel(LogLevel.Information).AddFilter("Npgsql", LogLevel.Warning));
            var cluster = PostgresCluster.Create(new PostgresClusterOptions
            {
                ConnectionString = $"Host={hosts};{Credentials}",
                PatroniUrls = Nodes.Select(n => $"http://{Addr(n)}:8008").ToList(),
                ReplicaLag = { MaxLagTime = TimeSpan.FromSeconds(1) },
                Resilience = { OperationTimeout = TimeSpan.FromMilliseconds(args.BudgetMs) },
            }, loggerFactory, "partition-drill");
            await cluster.WaitForTopologyAsync(TimeSpan.FromSeconds(5));
            return new HaPartitionClient(cluster, loggerFactory);
        }

        public abstract Task<string> WriteAsync(long id, string? pad, CancellationToken ct);

        public abstract Task ReadAsync(CancellationToken ct);

        public abstract ValueTask DisposeAsync();

        protected static async Task<string> InsertAsync(NpgsqlConnection c, long id, string? pad, CancellationToken ct)
        {
            await using var cmd = new NpgsqlCommand("INSERT INTO drill_writes(id, pad) VALUES (@id, @pad) RETURNING host(inet_server_addr())", c);
            cmd.Parameters.AddWithValue("id", id);
            cmd.Parameters.AddWithValue("pad", (object?)pad ?? DBNull.Value);
            return (string)(await cmd.ExecuteScalarAsync(ct))!;
        }

        protected static async Task<long> CountAsync(NpgsqlConnection c, CancellationToken ct)
        {
            await using var cmd = new NpgsqlCommand("SELECT count(*) FROM (SELECT 1 FROM drill_writes LIMIT 1000) s", c);
            return (long)(await cmd.ExecuteScalarAsync(ct))!;
        }
    }

    private sealed class HaPartitionClient(PostgresCluster cluster, ILoggerFactory loggerFactory) : PartitionClient
    {
        public override Task<string> WriteAsync(long id, string? pad, CancellationToken ct) => cluster.ExecuteWriteAsync((c, t) => InsertAsync(c, id, pad, t), ct);

        public override Task ReadAsync(CancellationToken ct) => cluster.ExecuteReadAsync((c, t) => CountAsync(c, t), default, ct);

        public override async ValueTask DisposeAsync()
        {
            await cluster.DisposeAsync();
            loggerFactory.Dispose();
        }
    }

    private sealed class NpgsqlPartitionClient(NpgsqlMultiHostDataSource multi, NpgsqlDataSource source) : PartitionClient
    {
        public override async Task<string> WriteAsync(long id, string? pad, CancellationToken ct)
        {
            await using var c = await source.OpenConnectionAsync(ct);
            return await InsertAsync(c, id, pad, ct);
        }

        public override async Task ReadAsync(CancellationToken ct)
        {
            await using var c = await source.OpenConnectionAsync(ct);
            await CountAsync(c, ct);
        }

        public override ValueTask DisposeAsync() => multi.DisposeAsync();
    }
}
