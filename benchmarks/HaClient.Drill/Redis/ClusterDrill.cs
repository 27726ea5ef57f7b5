using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using HaClient.Redis;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace HaClient.Drill.Redis;

/// <summary>
/// The Redis Cluster drills on the cluster lab (eng/lab.sh cluster): <c>redis-cluster-crash</c> (SIGKILL shard 1's
/// master) and <c>redis-cluster-hang</c> (SIGSTOP it), with <c>--client haclient</c> (RedisDeployment in cluster mode) or
/// <c>--client seredis</c> (plain StackExchange.Redis given the six nodes). Every write goes to a key of the failed shard
/// and answers the port of the node that ran it; an independent observer polls <c>ROLE</c> on the shard's two nodes
/// every ~5 ms. <c>window_ms</c> runs from the fault to the first acknowledged write by another node than the old
/// master; <c>detect_ms</c> from the promoted replica's first <c>master</c> answer to that write; a wrong-role write is
/// one acknowledged by a node the observer saw as a replica before and after it, or by the old master once the replica
/// was promoted.
/// </summary>
public static class ClusterDrill
{
    private static readonly int[] Ports = [17001, 17002, 17003, 17004, 17005, 17006];
    private const string WriteScript = "redis.call('SET', KEYS[1], ARGV[1], 'EX', 3600) return tonumber(string.match(redis.call('INFO', 'server'), 'tcp_port:(%d+)'))";

    public static bool Handles(string scenario) => scenario is "redis-cluster-crash" or "redis-cluster-hang";

    public static async Task<DrillReport> RunAsync(DrillArgs args)
    {
        var report = new DrillReport { Scenario = args.Scenario, Client = args.Client, Workload = "write", BudgetMs = args.BudgetMs };
        Console.WriteLine("drill: preparing the Redis Cluster lab");
        var (upCode, upOut) = await Lab.RunAsync(args, "cluster restore", TimeSpan.FromSeconds(120));
        if (upCode != 0) throw new InvalidOperationException("lab.sh cluster restore failed: " + upOut);
        var (oldMaster, replica) = await ShardOneAsync(args);
        Console.WriteLine($"drill: shard 1 master {oldMaster}, replica {replica}");

        var run = DateTime.UtcNow.ToString("HHmmssfff", CultureInfo.InvariantCulture);
        var tags = Enumerable.Range(0, 100_000).Select(i => $"{run}-{i}").Where(t => ClusterSlot.Of((RedisKey)t) <= 5460).Take(16).ToArray();
        using var stop = new CancellationTokenSource();
        var observer = new RedisDrill.Observer([oldMaster, replica]);
        var observerTask = observer.RunAsync(stop.Token);
        await using var client = await Client.CreateAsync(args);

        var acks = new ConcurrentQueue<(string Key, int Port, double StartedAt, double AckedAt)>();
        long nextId = 0, failed = 0, unknown = 0;
        double maxCallMs = 0;
        var maxLock = new Lock();
        var sw = Stopwatch.StartNew();
        var deadline = TimeSpan.FromSeconds(args.DurationSeconds);
        var callCap = TimeSpan.FromMilliseconds(Math.Max(args.BudgetMs * 3, 10_000));
        var workers = Enumerable.Range(0, args.Concurrency).Select(w => Task.Run(async () =>
        {
            for (var ops = 0; sw.Elapsed < deadline && ops < 100_000; ops++)
            {
                var id = Interlocked.Increment(ref nextId);
                var key = $"drill:{{{tags[id % tags.Length]}}}:{id}";
                var started = Lab.NowUnixMs();
                var t0 = Stopwatch.GetTimestamp();
                try
                {
                    using var cts = new CancellationTokenSource(callCap);
                    var port = await client.WriteAsync(key, id, cts.Token).WaitAsync(callCap);
                    acks.Enqueue((key, port, started, Lab.NowUnixMs()));
                }
                catch (WriteOutcomeUnknownException)
                {
                    Interlocked.Increment(ref unknown);
                    Interlocked.Increment(ref failed);
                }
                catch (Exception)
                {
                    Interlocked.Increment(ref failed);
                }

                var ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                lock (maxLock) maxCallMs = Math.Max(maxCallMs, ms);
                await Task.Delay(10);
            }
        })).ToArray();

        await Task.Delay(TimeSpan.FromSeconds(args.FaultAfterSeconds));
        var verb = args.Scenario == "redis-cluster-crash" ? "cluster crash-master 1" : "cluster hang-master 1";
        Console.WriteLine($"drill: injecting '{verb}' (master {oldMaster})");
        observer.FaultAt = Lab.NowUnixMs();
        double faultAt = await Lab.FaultAsync(args, verb);
        await Task.WhenAll(workers);
        report.DurationMs = sw.Elapsed.TotalMilliseconds;
        await stop.CancelAsync();
        await observerTask;

        Console.WriteLine("drill: restoring the lab");
        await Lab.RunAsync(args, "cluster thaw", TimeSpan.FromSeconds(60));
        var (restoreCode, restoreOut) = await Lab.RunAsync(args, "cluster restore", TimeSpan.FromSeconds(120));
        if (restoreCode != 0) Console.WriteLine("drill: warning: cluster restore failed: " + restoreOut);

        var ackList = acks.ToArray();
        report.LostAcked = await CountMissingAsync(ackList.Select(a => a.Key).ToArray());
        report.WritesAcked = ackList.Length;
        report.WritesFailed = failed;
        report.WritesOutcomeUnknown = unknown;
        report.MaxCallMs = Math.Round(maxCallMs, 1);

        var (newPort, masterAt) = observer.FirstWritableAfterFault(oldMaster);
        report.WrongRoleWrites = ackList.Count(a =>
            observer.WasReplicaThroughout(a.Port, a.StartedAt, a.AckedAt)
            || (a.Port != oldMaster && a.Port != replica)
            || (newPort > 0 && a.Port == oldMaster && a.StartedAt > masterAt));
        var first = ackList.Where(a => a.AckedAt > faultAt && a.Port != oldMaster).OrderBy(a => a.AckedAt).FirstOrDefault();
        if (first.Key is not null)
        {
            report.WindowMs = Math.Round(first.AckedAt - faultAt, 1);
            if (masterAt > 0 && first.Port == newPort)
            {
                report.DetectMs = Math.Round(Math.Max(0, first.AckedAt - masterAt), 1);
            }
        }

        report.Extra["old_master_port"] = oldMaster;
        report.Extra["new_master_port"] = newPort;
        report.Extra["observer_master_after_fault_ms"] = masterAt > 0 ? Math.Round(masterAt - faultAt, 1) : -1;
        report.Extra["acks_on_old_master_after_fault"] = ackList.Count(a => a.Port == oldMaster && a.AckedAt > faultAt);
        return report;
    }

    /// <summary>Shard 1's master and replica, from <c>cluster status</c>.</summary>
    private static async Task<(int Master, int Replica)> ShardOneAsync(DrillArgs args)
    {
        var (_, status) = await Lab.RunAsync(args, "cluster status", TimeSpan.FromSeconds(30));
        var line = status.Split('\n').First(l => l.StartsWith("shard 1 ", StringComparison.Ordinal));
        string Field(string name) => line.Split(' ').First(f => f.StartsWith(name + "=", StringComparison.Ordinal))[(name.Length + 1)..];
        return (int.Parse(Field("master"), CultureInfo.InvariantCulture), int.Parse(Field("replicas").Split(',')[0], CultureInfo.InvariantCulture));
    }

    /// <summary>How many of <paramref name="keys"/> are missing from the cluster now (asked through a fresh plain client).</summary>
    private static async Task<long> CountMissingAsync(string[] keys)
    {
        await using var mux = await ConnectionMultiplexer.ConnectAsync(string.Join(',', Ports.Select(p => $"127.0.0.1:{p}")) + ",abortConnect=false,syncTimeout=10000,asyncTimeout=10000");
        var db = mux.GetDatabase();
        long missing = 0;
        foreach (var chunk in keys.Chunk(500))
        {
            var found = await Task.WhenAll(chunk.Select(k => db.KeyExistsAsync(k)));
            missing += found.Count(f => !f);
        }

        return missing;
    }

    /// <summary>The client under test.</summary>
    private abstract class Client : IAsyncDisposable
    {
        public static async Task<Client> CreateAsync(DrillArgs args)
        {
            var b = (int)args.BudgetMs;
            if (args.Client == "seredis")
            {
                return new SeRedis(await ConnectionMultiplexer.ConnectAsync(string.Join(',', Ports.Select(p => $"127.0.0.1:{p}")) + $",abortConnect=false,syncTimeout={b},asyncTimeout={b}"));
            }

            if (args.Client != "haclient") throw new ArgumentException($"unknown client '{args.Client}' for Redis Cluster drills (haclient|seredis)");
            var loggerFactory = LoggerFactory.Create(lb => lb.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; }).SetMinimumLevel(LogLevel.Information));
            var d = RedisDeployment.Create(new RedisOptions
            {
                Endpoints = Ports.Select(p => $"127.0.0.1:{p}").ToList(),
                Cluster = true,
                Resilience = { OperationTimeout = TimeSpan.FromMilliseconds(args.BudgetMs) },
                WaitTimeout = TimeSpan.FromMilliseconds(Math.Min(500, args.BudgetMs / 2)),
            }, loggerFactory, "drill");
            if (!await d.WaitForPrimaryAsync(TimeSpan.FromSeconds(10))) throw new InvalidOperationException("not every shard has a primary");
            return new HaClientCluster(d, loggerFactory);
        }

        public abstract Task<int> WriteAsync(string key, long id, CancellationToken ct);

        public abstract ValueTask DisposeAsync();
    }

    private sealed class HaClientCluster(RedisDeployment d, ILoggerFactory loggerFactory) : Client
    {
        public override Task<int> WriteAsync(string key, long id, CancellationToken ct)
            => d.ExecuteKeyWriteAsync(key, async (db, _) => (int)await db.ScriptEvaluateAsync(WriteScript, [key], [id]), cancellationToken: ct);

        public override async ValueTask DisposeAsync()
        {
            await d.DisposeAsync();
            loggerFactory.Dispose();
        }
    }

    private sealed class SeRedis(ConnectionMultiplexer mux) : Client
    {
        public override async Task<int> WriteAsync(string key, long id, CancellationToken ct)
            => (int)await mux.GetDatabase().ScriptEvaluateAsync(WriteScript, [key], [id]);

        public override async ValueTask DisposeAsync()
        {
            await mux.CloseAsync(false).WaitAsync(TimeSpan.FromSeconds(5));
            await mux.DisposeAsync();
        }
    }
}
