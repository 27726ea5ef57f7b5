using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using HaClient.Redis;
using HaClient.Redis.Caching;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace HaClient.Drill.Redis;

/// <summary>
/// The Redis drills on the Sentinel lab: <c>redis-crash</c>, <c>redis-hang</c>, <c>redis-switchover</c>,
/// <c>session-failover</c>, each with <c>--client haclient</c> (RedisDeployment / HaRedisCache) or <c>--client seredis</c>
/// (plain StackExchange.Redis with a Sentinel configuration string). A bounded write (+read) workload, one fault, an
/// independent observer polling <c>ROLE</c> on every node every ~5 ms, and a check of every acknowledged write on the
/// final master after <c>redis restore</c>.
/// </summary>
public static class RedisDrill
{
    private static readonly int[] Ports = [16379, 16380, 16381];
    private const string Sentinels = "127.0.0.1:16479,127.0.0.1:16480,127.0.0.1:16481";

    // SET the key and answer the port of the node that executed it: the ack names its node, for both clients.
    private const string WriteScript = "redis.call('SET', KEYS[1], ARGV[1], 'EX', 3600) return tonumber(string.match(redis.call('INFO', 'server'), 'tcp_port:(%d+)'))";

    public static bool Handles(string scenario) => scenario is "redis-crash" or "redis-hang" or "redis-switchover" or "session-failover";

    public static async Task<DrillReport> RunAsync(DrillArgs args)
    {
        var report = new DrillReport { Scenario = args.Scenario, Client = args.Client, Workload = args.Workload, BudgetMs = args.BudgetMs };
        Console.WriteLine("drill: preparing the Redis Sentinel lab");
        var (upCode, upOut) = await Lab.RunAsync(args, "redis up", TimeSpan.FromSeconds(120));
        if (upCode != 0) throw new InvalidOperationException("lab.sh redis up failed: " + upOut);

        var run = DateTime.UtcNow.ToString("HHmmssfff", CultureInfo.InvariantCulture);
        using var stop = new CancellationTokenSource();
        var observer = new Observer(Ports);
        var observerTask = observer.RunAsync(stop.Token);
        await using var client = await DrillClient.CreateAsync(args, run);

        // Sessions first (session-failover): N sessions written through the session store before the fault.
        var sessionKeys = new List<string>();
        if (args.Scenario == "session-failover")
        {
            var created = 0;
            var failedCreates = 0;
            var ids = Enumerable.Range(0, args.Sessions).ToArray();
            await Parallel.ForEachAsync(ids, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, ct) =>
            {
                try
                {
                    await client.SessionSetAsync(i, Payload(i, 0), ct);
                    Interlocked.Increment(ref created);
                }
                catch (Exception)
                {
                    Interlocked.Increment(ref failedCreates);
                }
            });
            report.Extra["sessions_created"] = created;
            report.Extra["sessions_create_failed"] = failedCreates;
            Console.WriteLine($"drill: {created} sessions created ({failedCreates} failed)");
        }

        var acks = new ConcurrentQueue<Ack>();
        var ackedTimeline = new AckTimeline<string?>(static (_, newer) => newer);
        var sw = Stopwatch.StartNew();
        long nextId = 0, writesFailed = 0, outcomeUnknown = 0, readsOk = 0, stale = 0, readErrors = 0, sessionResets = 0, sessionWritesAcked = 0, sessionWritesFailed = 0;
        double maxCallMs = 0;
        var maxLock = new Lock();
        void Call(double ms)
        {
            lock (maxLock) maxCallMs = Math.Max(maxCallMs, ms);
        }

        var readBound = TimeSpan.FromSeconds(1);
        var deadline = TimeSpan.FromSeconds(args.DurationSeconds);
        var writeOnly = args.Workload == "write";
        var callCap = TimeSpan.FromMilliseconds(Math.Max(args.BudgetMs * 3, 10_000));
        var workers = Enumerable.Range(0, args.Concurrency).Select(w => Task.Run(async () =>
        {
            var ops = 0;
            var rnd = new Random(w);
            while (sw.Elapsed < deadline && ops++ < 100_000)
            {
                var id = Interlocked.Increment(ref nextId);
                var key = $"drill:{run}:w:{id}";
                var started = Lab.NowUnixMs();
                var t0 = Stopwatch.GetTimestamp();
                try
                {
                    using var cts = new CancellationTokenSource(callCap);
                    var port = await client.WriteAsync(key, id, cts.Token).WaitAsync(callCap);
                    var at = Lab.NowUnixMs();
                    acks.Enqueue(new Ack(key, port, started, at));
                    ackedTimeline.Add(at, key);
                }
                catch (WriteOutcomeUnknownException)
                {
                    Interlocked.Increment(ref outcomeUnknown);
                    Interlocked.Increment(ref writesFailed);
                }
                catch (Exception)
                {
                    Interlocked.Increment(ref writesFailed);
                }

                Call(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);

                if (!writeOnly)
                {
                    // A read must see every write acked more than the bound ago.
                    var witness = ackedTimeline.Before(Lab.NowUnixMs() - readBound.TotalMilliseconds);
                    if (witness is not null)
                    {
                        var r0 = Stopwatch.GetTimestamp();
                        try
                        {
                            using var cts = new CancellationTokenSource(callCap);
                            if (await client.ExistsAsync(witness, cts.Token).WaitAsync(callCap)) Interlocked.Increment(ref readsOk);
                            else Interlocked.Increment(ref stale);
                        }
                        catch (Exception)
                        {
                            Interlocked.Increment(ref readErrors);
                        }

                        Call(Stopwatch.GetElapsedTime(r0).TotalMilliseconds);
                    }
                }

                if (args.Scenario == "session-failover" && args.Sessions > 0)
                {
                    // A request: load the session (must exist: a miss is a reset), then save it.
                    var s = rnd.Next(args.Sessions);
                    var r0 = Stopwatch.GetTimestamp();
                    try
                    {
                        using var cts = new CancellationTokenSource(callCap);
                        var v = await client.SessionGetAsync(s, cts.Token).WaitAsync(callCap);
                        if (v is null) Interlocked.Increment(ref sessionResets);
                        else Interlocked.Increment(ref readsOk);
                    }
                    catch (Exception)
                    {
                        Interlocked.Increment(ref readErrors);
                    }

                    Call(Stopwatch.GetElapsedTime(r0).TotalMilliseconds);
                    r0 = Stopwatch.GetTimestamp();
                    try
                    {
                        using var cts = new CancellationTokenSource(callCap);
                        await client.SessionSetAsync(s, Payload(s, id), cts.Token).WaitAsync(callCap);
                        Interlocked.Increment(ref sessionWritesAcked);
                    }
                    catch (Exception)
                    {
                        Interlocked.Increment(ref sessionWritesFailed);
                    }

                    Call(Stopwatch.GetElapsedTime(r0).TotalMilliseconds);
                }

                await Task.Delay(10);
            }
        })).ToArray();

        await Task.Delay(TimeSpan.FromSeconds(args.FaultAfterSeconds));
        var oldMaster = observer.CurrentPrimary();
        Console.WriteLine($"drill: injecting '{args.Scenario}' (master {oldMaster})");
        var verb = args.Scenario switch
        {
            "redis-crash" or "session-failover" => "redis crash-master",
            "redis-hang" => "redis hang-master",
            "redis-switchover" => "redis failover",
            _ => throw new ArgumentException(args.Scenario),
        };
        // The fault verb may wait (failover waits for the new master): arm the observer now, then use the exact instant.
        observer.FaultAt = Lab.NowUnixMs();
        double faultAt = await Lab.FaultAsync(args, verb);
        await Task.WhenAll(workers);
        report.DurationMs = sw.Elapsed.TotalMilliseconds;
        await stop.CancelAsync();
        await observerTask;

        Console.WriteLine("drill: restoring the lab");
        if (args.Scenario == "redis-hang")
        {
            await Lab.RunAsync(args, "redis resume", TimeSpan.FromSeconds(60));
        }

        var (restoreCode, restoreOut) = await Lab.RunAsync(args, "redis restore", TimeSpan.FromSeconds(120));
        if (restoreCode != 0) Console.WriteLine("drill: warning: redis restore failed: " + restoreOut);

        // Every acknowledged write must be on the final master.
        var finalPort = await FindMasterAsync(TimeSpan.FromSeconds(60));
        var ackList = acks.ToArray();
        await using (var check = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{finalPort},abortConnect=false,syncTimeout=10000,asyncTimeout=10000"))
        {
            var db = check.GetDatabase();
            long found = 0;
            foreach (var chunk in ackList.Chunk(500))
            {
                found += await db.KeyExistsAsync(chunk.Select(a => (RedisKey)a.Key).ToArray());
            }

            report.LostAcked = ackList.Length - found;
            if (args.Scenario == "session-failover")
            {
                long present = 0;
                foreach (var chunk in Enumerable.Range(0, args.Sessions).Chunk(500))
                {
                    present += await db.KeyExistsAsync(chunk.Select(i => (RedisKey)client.SessionRedisKey(i)).ToArray());
                }

                report.Extra["sessions_lost"] = report.Extra.GetValueOrDefault("sessions_created") - present;
                report.Extra["session_resets_during_run"] = sessionResets;
                report.Extra["session_writes_acked"] = sessionWritesAcked;
                report.Extra["session_writes_failed"] = sessionWritesFailed;
            }
        }

        report.WritesAcked = ackList.Length;
        report.WritesFailed = writesFailed;
        report.WritesOutcomeUnknown = outcomeUnknown;
        report.ReadsOk = readsOk;
        report.StaleReads = stale;
        report.ReadErrors = readErrors;
        report.MaxCallMs = Math.Round(maxCallMs, 1);

        var (newPort, masterAt) = observer.FirstWritableAfterFault(oldMaster);
        // Wrong role: acked by a node the observer saw as a replica before the write and after its ack, or sent to the
        // old master after another node was promoted (those are the acks a failover discards). Not "any node but the
        // first new master": under load Sentinel sometimes fails over twice, and following that is right.
        report.WrongRoleWrites = ackList.Count(a =>
            observer.WasReplicaThroughout(a.Port, a.StartedAt, a.AckedAt)
            || (newPort > 0 && a.Port == oldMaster && a.StartedAt > masterAt));
        report.Extra["master_changes_seen_by_observer"] = observer.PrimaryChanges();
        var firstAck = ackList.Where(a => a.AckedAt > faultAt && a.Port != oldMaster).OrderBy(a => a.AckedAt).FirstOrDefault();
        if (firstAck is not null)
        {
            report.WindowMs = Math.Round(firstAck.AckedAt - faultAt, 1);
            if (masterAt > 0 && firstAck.Port == newPort)
            {
                report.DetectMs = Math.Round(Math.Max(0, firstAck.AckedAt - masterAt), 1);
            }
        }

        var lastOldAck = ackList.Where(a => a.Port == oldMaster && a.AckedAt > faultAt).Select(a => a.AckedAt).DefaultIfEmpty(-1).Max();
        report.Extra["old_master_port"] = oldMaster;
        report.Extra["new_master_port"] = newPort;
        report.Extra["final_master_port"] = finalPort;
        report.Extra["observer_master_after_fault_ms"] = masterAt > 0 ? Math.Round(masterAt - faultAt, 1) : -1;
        report.Extra["acks_on_old_master_after_fault"] = ackList.Count(a => a.Port == oldMaster && a.AckedAt > faultAt);
        report.Extra["last_ack_on_old_master_after_fault_ms"] = lastOldAck > 0 ? Math.Round(lastOldAck - faultAt, 1) : -1;
        return report;
    }

    private static byte[] Payload(int session, long version) => System.Text.Encoding.UTF8.GetBytes($"session-{session}-v{version}-" + new string('x', 200));

    private static async Task<int> FindMasterAsync(TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < timeout)
        {
            foreach (var port in Ports)
            {
                try
                {
                    using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                    await using var p = await RespProbe.ConnectAsync(port, cts.Token);
                    if (await p.CommandAsync(cts.Token, "ROLE") is object?[] { Length: > 0 } r && r[0] as string == "master") return port;
                }
                catch (Exception)
                {
                }
            }

            await Task.Delay(200);
        }

        throw new TimeoutException("no master found in the Redis lab");
    }

    private sealed record Ack(string Key, int Port, double StartedAt, double AckedAt);

    /// <summary>Polls ROLE on every node every ~5 ms over its own raw connections: each node's role over time and the
    /// first moment a node other than the old master answered <c>master</c> after the fault.</summary>
    internal sealed class Observer(int[] ports) : RoleHistory
    {
        /// <summary>One dedicated thread per node with blocking I/O: the client under test can starve the thread pool
        /// (that is part of what the drill shows), and the observer's timestamps must not suffer from it.</summary>
        public Task RunAsync(CancellationToken stop)
        {
            var done = ports.Select(p =>
            {
                var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                var t = new Thread(() =>
                {
                    try
                    {
                        Loop(p, stop);
                    }
                    finally
                    {
                        tcs.TrySetResult();
                    }
                })
                { IsBackground = true, Name = $"observer {p}" };
                t.Start();
                return tcs.Task;
            }).ToArray();
            return Task.WhenAll(done);
        }

        private void Loop(int port, CancellationToken stop)
        {
            RespProbe? c = null;
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    c ??= RespProbe.Connect(port, TimeSpan.FromMilliseconds(300));
                    var role = c.Role();
                    var at = Lab.NowUnixMs();
                    var isMaster = role == "master";
                    Record(port, at, isMaster);
                    if (isMaster && AwaitsWritableAfterFault(port, at)) RecordWritableAfterFault(port, at);
                }
                catch (Exception)
                {
                    c?.DisposeAsync().AsTask().GetAwaiter().GetResult();
                    c = null;
                }

                Thread.Sleep(5); // not stop.WaitHandle: the token's source may be disposed if the run ends by an exception
            }

            c?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>The client under test.</summary>
    private abstract class DrillClient : IAsyncDisposable
    {
        protected DrillClient(string run) => SessionPrefix = $"drill:{run}:sess:";

        protected string SessionPrefix { get; }

        public static async Task<DrillClient> CreateAsync(DrillArgs args, string run)
        {
            if (args.Client == "seredis")
            {
                var b = (int)args.BudgetMs;
                var mux = await ConnectionMultiplexer.ConnectAsync($"{Sentinels},serviceName=haclient,abortConnect=false,syncTimeout={b},asyncTimeout={b}");
                return new SeRedisClient(mux, run, args.Sync);
            }

            if (args.Client != "haclient") throw new ArgumentException($"unknown client '{args.Client}' for Redis drills (haclient|seredis)");
            var loggerFactory = LoggerFactory.Create(lb => lb.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; }).SetMinimumLevel(LogLevel.Information));
            var deployment = RedisDeployment.Create(new RedisOptions
            {
                Sentinels = Sentinels.Split(','),
                ServiceName = "haclient",
                Resilience = { OperationTimeout = TimeSpan.FromMilliseconds(args.BudgetMs) },
                WaitReplicas = args.Sync ? 1 : 0,
                WaitTimeout = TimeSpan.FromMilliseconds(Math.Min(500, args.BudgetMs / 2)),
            }, loggerFactory, "drill");
            if (!await deployment.WaitForPrimaryAsync(TimeSpan.FromSeconds(10))) throw new InvalidOperationException("no master found");
            return new HaClientClient(deployment, loggerFactory, run, args);
        }

        /// <summary>SETs the key; returns the port of the node that executed it.</summary>
        public abstract Task<int> WriteAsync(string key, long id, CancellationToken ct);

        public abstract Task<bool> ExistsAsync(string key, CancellationToken ct);

        public abstract Task SessionSetAsync(int session, byte[] value, CancellationToken ct);

        public abstract Task<byte[]?> SessionGetAsync(int session, CancellationToken ct);

        public abstract string SessionRedisKey(int session);

        public abstract ValueTask DisposeAsync();
    }

    private sealed class HaClientClient : DrillClient
    {
        private readonly RedisDeployment _deployment;
        private readonly ILoggerFactory _loggerFactory;
        private readonly HaRedisCache _cache;
        private static readonly DistributedCacheEntryOptions Entry = new() { SlidingExpiration = TimeSpan.FromMinutes(20) };

        public HaClientClient(RedisDeployment deployment, ILoggerFactory loggerFactory, string run, DrillArgs args)
            : base(run)
        {
            _deployment = deployment;
            _loggerFactory = loggerFactory;
            // Sessions in durable mode: every session write waits for one replica (WAIT 1).
            _cache = new HaRedisCache(deployment, new HaRedisCacheOptions { KeyPrefix = SessionPrefix, WaitReplicas = 1, WaitTimeout = TimeSpan.FromMilliseconds(Math.Min(500, args.BudgetMs / 2)) });
        }

        public override Task<int> WriteAsync(string key, long id, CancellationToken ct)
            => _deployment.ExecuteWriteAsync(async (db, _) => (int)await db.ScriptEvaluateAsync(WriteScript, [key], [id]), cancellationToken: ct);

        public override Task<bool> ExistsAsync(string key, CancellationToken ct)
            => _deployment.ExecuteReadAsync((db, _) => db.KeyExistsAsync(key), RedisReadPreference.ReplicaPreferred, ct);

        public override Task SessionSetAsync(int session, byte[] value, CancellationToken ct) => _cache.SetAsync(session.ToString(CultureInfo.InvariantCulture), value, Entry, ct);

        public override Task<byte[]?> SessionGetAsync(int session, CancellationToken ct) => _cache.GetAsync(session.ToString(CultureInfo.InvariantCulture), ct);

        public override string SessionRedisKey(int session) => SessionPrefix + session.ToString(CultureInfo.InvariantCulture);

        public override async ValueTask DisposeAsync()
        {
            await _deployment.DisposeAsync();
            _loggerFactory.Dispose();
        }
    }

    /// <summary>Plain StackExchange.Redis in Sentinel mode. Sessions the way Microsoft.Extensions.Caching.StackExchangeRedis's
    /// RedisCache stores them (a hash; every read also sends EXPIRE to the master); no WAIT unless --sync.</summary>
    private sealed class SeRedisClient(ConnectionMultiplexer mux, string run, bool sync) : DrillClient(run)
    {
        private const long SlidingSeconds = 20 * 60;

        public override async Task<int> WriteAsync(string key, long id, CancellationToken ct)
        {
            var db = mux.GetDatabase();
            var port = (int)await db.ScriptEvaluateAsync(WriteScript, [key], [id]);
            if (sync) await db.ExecuteAsync("WAIT", 1, 500);
            return port;
        }

        public override Task<bool> ExistsAsync(string key, CancellationToken ct) => mux.GetDatabase().KeyExistsAsync(key, CommandFlags.PreferReplica);

        public override async Task SessionSetAsync(int session, byte[] value, CancellationToken ct)
        {
            var db = mux.GetDatabase();
            var key = SessionRedisKey(session);
            await db.HashSetAsync(key, [new HashEntry("data", value), new HashEntry("sldexp", SlidingSeconds * TimeSpan.TicksPerSecond), new HashEntry("absexp", -1)]);
            await db.KeyExpireAsync(key, TimeSpan.FromSeconds(SlidingSeconds));
            if (sync) await db.ExecuteAsync("WAIT", 1, 500);
        }

        public override async Task<byte[]?> SessionGetAsync(int session, CancellationToken ct)
        {
            var db = mux.GetDatabase();
            var key = SessionRedisKey(session);
            var v = await db.HashGetAsync(key, [(RedisValue)"absexp", "sldexp", "data"]);
            if (v[2].IsNull) return null;
            await db.KeyExpireAsync(key, TimeSpan.FromSeconds(SlidingSeconds));
            return (byte[]?)v[2];
        }

        public override string SessionRedisKey(int session) => SessionPrefix + session.ToString(CultureInfo.InvariantCulture);

        public override async ValueTask DisposeAsync()
        {
            await mux.CloseAsync(false).WaitAsync(TimeSpan.FromSeconds(5));
            await mux.DisposeAsync();
        }
    }
}
