using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using HaClient.Redis;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace HaClient.Drill.Redis;

/// <summary>
/// <c>partition-sentinel-minority</c> on the lab's net part (eng/lab/netns.sh): the Redis master r1 is cut off, together
/// with its own Sentinel (one of three), from the other nodes and their Sentinels; the client still reaches r1. The
/// majority promotes a replica. r1 refuses writes by itself only once no replica has acknowledged for
/// <c>min-replicas-max-lag</c> (5 s in the lab). The key figure: writes r1 acknowledged after another node was promoted
/// (<c>old_master_acks_after_promotion</c>), HaClient against plain StackExchange.Redis.
/// </summary>
public static class SentinelPartitionDrill
{
    private static readonly string[] Nodes = ["10.213.0.21", "10.213.0.22", "10.213.0.23"];
    private const string WriteScript = "redis.call('SET', KEYS[1], ARGV[1], 'EX', 3600) return string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')";

    public static async Task<DrillReport> RunAsync(DrillArgs args)
    {
        var report = new DrillReport { Scenario = args.Scenario, Client = args.Client, Workload = args.Sync ? "write-wait1" : "write", BudgetMs = args.BudgetMs };
        Console.WriteLine("drill: preparing the lab's net part (Redis + Sentinel in network namespaces)");
        var (code, output) = await Lab.RunAsync(args, "net up redis", TimeSpan.FromSeconds(90));
        if (code != 0) throw new InvalidOperationException("lab.sh net up redis failed: " + output);

        var runIds = Nodes.ToDictionary(n => Info(n, 6379, "run_id") ?? throw new InvalidOperationException($"no run_id from {n}"), n => n);
        var old = Nodes[0];
        var run = DateTime.UtcNow.ToString("HHmmssfff", CultureInfo.InvariantCulture);
        await using var client = await Client.CreateAsync(args);
        using var stop = new CancellationTokenSource();
        var observer = new Observer(old);
        var observerThread = new Thread(() => observer.Run(stop.Token)) { IsBackground = true, Name = "sentinel-partition observer" };
        observerThread.Start();

        var acks = new ConcurrentQueue<(string Key, string Node, double At)>();
        var errors = new ConcurrentDictionary<string, long>();
        long next = 0, failed = 0;
        double maxCallMs = 0;
        var maxLock = new Lock();
        var sw = Stopwatch.StartNew();
        var deadline = TimeSpan.FromSeconds(args.DurationSeconds);
        var workers = Enumerable.Range(0, args.Concurrency).Select(_ => Task.Run(async () =>
        {
            for (var ops = 0; sw.Elapsed < deadline && ops < 200_000; ops++)
            {
                var id = Interlocked.Increment(ref next);
                var key = $"drill:{run}:{id}";
                var t0 = Stopwatch.GetTimestamp();
                try
                {
                    using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(args.BudgetMs * 3));
                    var runId = await client.WriteAsync(key, id, cts.Token);
                    acks.Enqueue((key, runIds.GetValueOrDefault(runId, "?"), Lab.NowUnixMs()));
                }
                catch (Exception e)
                {
                    Interlocked.Increment(ref failed);
                    var m = $"{e.GetType().Name}: {e.Message}";
                    errors.AddOrUpdate(m.Length > 140 ? m[..140] : m, 1, (_, n) => n + 1);
                    await Task.Delay(20);
                }

                var ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                lock (maxLock) maxCallMs = Math.Max(maxCallMs, ms);
            }
        })).ToArray();

        await Task.Delay(TimeSpan.FromSeconds(args.FaultAfterSeconds));
        var faultAt = await Lab.FaultAsync(args, "net cut r1 dcs");
        observer.FaultAt = faultAt;
        Console.WriteLine($"drill: net cut r1 dcs (r1 and its Sentinel cut off from r2, r3) at {faultAt}");
        await Task.WhenAll(workers);
        await Lab.FaultAsync(args, "net heal r1");
        await stop.CancelAsync();
        observerThread.Join(TimeSpan.FromSeconds(5));

        var all = acks.ToArray();
        var firstNew = all.Where(a => a.Node != old && a.Node != "?" && a.At > faultAt).OrderBy(a => a.At).FirstOrDefault();
        report.WritesAcked = all.Length;
        report.WritesFailed = failed;
        report.UserVisibleErrors = failed;
        report.MaxCallMs = maxCallMs;
        report.DurationMs = sw.Elapsed.TotalMilliseconds;
        if (firstNew.Key is not null)
        {
            report.WindowMs = firstNew.At - faultAt;
            if (observer.PromotedAt > 0) report.DetectMs = Math.Max(0, firstNew.At - observer.PromotedAt);
        }

        var afterPromotion = observer.PromotedAt > 0 ? all.Count(a => a.Node == old && a.At > observer.PromotedAt) : 0;
        report.WrongRoleWrites = afterPromotion;
        report.Extra["old_master_acks_after_promotion"] = afterPromotion;
        report.Extra["old_master_acks_after_majority"] = observer.MajorityAt > 0 ? all.Count(a => a.Node == old && a.At > observer.MajorityAt) : 0;
        report.Extra["old_master_acks_after_fault"] = all.Count(a => a.Node == old && a.At > faultAt);
        var lastOld = all.Where(a => a.Node == old).Select(a => a.At).DefaultIfEmpty(0).Max();
        report.Extra["last_old_master_ack_ms"] = lastOld > 0 ? lastOld - faultAt : -1;
        report.Extra["sentinel_majority_new_master_ms"] = observer.MajorityAt > 0 ? observer.MajorityAt - faultAt : -1;
        report.Extra["new_master_promoted_ms"] = observer.PromotedAt > 0 ? observer.PromotedAt - faultAt : -1;
        report.Extra["min_replicas_max_lag_s"] = double.Parse(Config(old, "min-replicas-max-lag") ?? "-1", CultureInfo.InvariantCulture);
        report.LostAcked = await CountLostAsync(all.Select(a => a.Key).ToArray());
        foreach (var (k, v) in errors.OrderByDescending(e => e.Value).Take(4)) Console.WriteLine($"   error x{v}: {k}");
        return report;
    }

    /// <summary>Acknowledged keys missing on the master the Sentinels name once r1 has rejoined (-1: none within 30 s).</summary>
    private static async Task<long> CountLostAsync(string[] keys)
    {
        for (var i = 0; i < 60; i++)
        {
            var names = Nodes.Select(n => Query(n, 26379, "SENTINEL get-master-addr-by-name haclient")).ToArray();
            var master = names.Where(m => m is not null).GroupBy(m => m).FirstOrDefault(g => g.Count() >= 2)?.Key;
            if (master is not null && Query(master, 6379, "ROLE") == "master")
            {
                await using var mux = await ConnectionMultiplexer.ConnectAsync($"{master}:6379,abortConnect=false,connectTimeout=2000");
                var db = mux.GetDatabase();
                long lost = 0;
                foreach (var chunk in keys.Chunk(500))
                {
                    var exists = chunk.Select(k => db.KeyExistsAsync(k)).ToArray();
                    lost += (await Task.WhenAll(exists)).Count(e => !e);
                }

                return lost;
            }

            await Task.Delay(500);
        }

        return -1;
    }

    private static string? Info(string host, int port, string field)
    {
        var text = Raw(host, port, "INFO server");
        var line = text?.Split("\r\n").FirstOrDefault(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        return line?[(field.Length + 1)..];
    }

    private static string? Config(string host, string name) => Raw(host, 6379, $"CONFIG GET {name}")?.Split("\r\n").Where(l => l.Length > 0 && l[0] != '*' && l[0] != '$').Skip(1).FirstOrDefault();

    /// <summary>The first bulk string of a reply: ROLE's role, get-master-addr-by-name's address.</summary>
    internal static string? Query(string host, int port, string command)
        => Raw(host, port, command)?.Split("\r\n").Where(l => l.Length > 0 && l[0] != '*' && l[0] != '$').FirstOrDefault();

    /// <summary>One inline command on a fresh connection (300 ms bounds); the raw reply, or null.</summary>
    private static string? Raw(string host, int port, string command)
    {
        try
        {
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 300, SendTimeout = 300, NoDelay = true };
            var connect = s.BeginConnect(host, port, null, null);
            if (!connect.AsyncWaitHandle.WaitOne(300)) return null;
            s.EndConnect(connect);
            s.Send(Encoding.ASCII.GetBytes(command + "\r\n"));
            var buf = new byte[16384];
            var n = s.Receive(buf);
            return n <= 0 || buf[0] == (byte)'-' ? null : Encoding.ASCII.GetString(buf, 0, n);
        }
        catch (Exception)
        {
            return null;
        }
    }

    /// <summary>A dedicated thread: every 50 ms each node's ROLE and each Sentinel's master address.</summary>
    private sealed class Observer(string old)
    {
        public double FaultAt { get; set; }

        public double MajorityAt { get; private set; }

        public double PromotedAt { get; private set; }

        public void Run(CancellationToken stop)
        {
            while (!stop.IsCancellationRequested)
            {
                var t0 = Stopwatch.GetTimestamp();
                if (FaultAt > 0)
                {
                    var named = Nodes.Select(n => Query(n, 26379, "SENTINEL get-master-addr-by-name haclient")).ToArray();
                    var now = Lab.NowUnixMs();
                    if (MajorityAt == 0 && named.Where(m => m is not null && m != old).GroupBy(m => m).Any(g => g.Count() >= 2)) MajorityAt = now;
                    if (PromotedAt == 0 && Nodes.Where(n => n != old).Any(n => Query(n, 6379, "ROLE") == "master")) PromotedAt = Lab.NowUnixMs();
                }

                var left = 50 - Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                if (left > 0) stop.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(left));
            }
        }
    }

    private abstract class Client : IAsyncDisposable
    {
        private const string Sentinels = "10.213.0.21:26379,10.213.0.22:26379,10.213.0.23:26379";

        public static async Task<Client> CreateAsync(DrillArgs args)
        {
            var b = (int)args.BudgetMs;
            if (args.Client == "seredis")
            {
                return new SeClient(await ConnectionMultiplexer.ConnectAsync($"{Sentinels},serviceName=haclient,abortConnect=false,syncTimeout={b},asyncTimeout={b}"), args.Sync);
            }

            if (args.Client != "haclient") throw new ArgumentException($"--client {args.Client}: partition-sentinel-minority takes haclient or seredis");
            var loggerFactory = LoggerFactory.Create(lb => lb.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; }).SetMinimumLevel(LogLevel.Information));
            var deployment = RedisDeployment.Create(new RedisOptions
            {
                Sentinels = Sentinels.Split(','),
                ServiceName = "haclient",
                Resilience = { OperationTimeout = TimeSpan.FromMilliseconds(args.BudgetMs) },
                WaitReplicas = args.Sync ? 1 : 0,
                WaitTimeout = TimeSpan.FromMilliseconds(Math.Min(500, args.BudgetMs / 2)),
            }, loggerFactory, "partition-drill");
            if (!await deployment.WaitForPrimaryAsync(TimeSpan.FromSeconds(10))) throw new InvalidOperationException("no master found");
            return new HaRedisClient(deployment, loggerFactory);
        }

        /// <summary>SETs the key; returns the run_id of the node that executed it.</summary>
        public abstract Task<string> WriteAsync(string key, long id, CancellationToken ct);

        public abstract ValueTask DisposeAsync();
    }

    private sealed class HaRedisClient(RedisDeployment deployment, ILoggerFactory loggerFactory) : Client
    {
        public override Task<string> WriteAsync(string key, long id, CancellationToken ct)
            => deployment.ExecuteWriteAsync(async (db, _) => (string)(await db.ScriptEvaluateAsync(WriteScript, [key], [id]))!, cancellationToken: ct);

        public override async ValueTask DisposeAsync()
        {
            await deployment.DisposeAsync();
            loggerFactory.Dispose();
        }
    }

    /// <summary>Plain StackExchange.Redis in Sentinel mode; with --sync a <c>WAIT 1 500</c> after each write, its count
    /// not checked (as the other Redis drills do).</summary>
    private sealed class SeClient(ConnectionMultiplexer mux, bool sync) : Client
    {
        public override async Task<string> WriteAsync(string key, long id, CancellationToken ct)
        {
            var db = mux.GetDatabase();
            var runId = (string)(await db.ScriptEvaluateAsync(WriteScript, [key], [id]))!;
            if (sync) await db.ExecuteAsync("WAIT", 1, 500);
            return runId;
        }

        public override async ValueTask DisposeAsync()
        {
            await mux.CloseAsync(false).WaitAsync(TimeSpan.FromSeconds(5));
            await mux.DisposeAsync();
        }
    }
}
