using System.Diagnostics;
using System.Globalization;
using HaClient.Redis;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace HaClient.Drill.Redis;

/// <summary>
/// Read-your-writes on Redis: <c>redis-token</c> (Sentinel lab; <c>redis failover</c> at <c>--fault-after-s</c>) and
/// <c>redis-cluster-token</c> (cluster lab; <c>cluster failover 1</c>). Each worker INCRs its own key (in cluster mode
/// the workers' keys spread over the three shards) and reads it back twice: given the write's token just taken, and
/// given the token of a write about 1.5 s old (old enough for a replica to prove it). A read that sees a value below the
/// one its token's write returned is stale. With <c>--client haclient</c> the reads go through
/// <c>ExecuteReadAfterAsync</c> / <c>ExecuteKeyReadAfterAsync</c>; with <c>--client seredis</c> plain StackExchange.Redis
/// reads with <c>PreferReplica</c> (it has no token), for contrast. The report counts which role served the reads.
/// </summary>
public static class TokenDrill
{
    public static bool Handles(string scenario) => scenario is "redis-token" or "redis-cluster-token";

    public static async Task<DrillReport> RunAsync(DrillArgs args)
    {
        var cluster = args.Scenario == "redis-cluster-token";
        var report = new DrillReport { Scenario = args.Scenario, Client = args.Client, Workload = "token", BudgetMs = args.BudgetMs };
        Console.WriteLine($"drill: preparing the Redis {(cluster ? "Cluster" : "Sentinel")} lab");
        var (upCode, upOut) = await Lab.RunAsync(args, cluster ? "cluster restore" : "redis up", TimeSpan.FromSeconds(120));
        if (upCode != 0) throw new InvalidOperationException("lab.sh up failed: " + upOut);

        var run = DateTime.UtcNow.ToString("HHmmssfff", CultureInfo.InvariantCulture);
        await using var client = await Client.CreateAsync(args, cluster);
        long writes = 0, writesFailed = 0, outcomeUnknown = 0, reads = 0, readErrors = 0, staleLatest = 0, staleOld = 0, replicaReads = 0, primaryReads = 0, oldReads = 0, oldReplicaReads = 0;
        double maxCallMs = 0;
        var maxLock = new Lock();
        var histories = new HashSet<string>();
        var sw = Stopwatch.StartNew();
        var deadline = TimeSpan.FromSeconds(args.DurationSeconds);
        var callCap = TimeSpan.FromMilliseconds(Math.Max(args.BudgetMs * 3, 10_000));
        var workers = Enumerable.Range(0, args.Concurrency).Select(w => Task.Run(async () =>
        {
            var key = cluster ? KeyInShard(run, w, w % 3) : $"drill:{run}:ryw:{w}";
            var history = new Queue<(double At, long Value, RedisConsistencyToken Token)>();
            (long Value, RedisConsistencyToken Token) old = (0, default);
            for (var ops = 0; sw.Elapsed < deadline && ops < 100_000; ops++)
            {
                var t0 = Stopwatch.GetTimestamp();
                try
                {
                    using var cts = new CancellationTokenSource(callCap);
                    var (value, token) = await client.IncrementAsync(key, cts.Token).WaitAsync(callCap);
                    Interlocked.Increment(ref writes);

                    // The token as it would travel: its string form, parsed back.
                    var carried = token.IsEmpty ? token : RedisConsistencyToken.Parse(token.ToString());
                    if (carried.ReplicationId is { } id)
                    {
                        lock (histories) histories.Add(id);
                    }

                    var now = Lab.NowUnixMs();
                    history.Enqueue((now, value, carried));
                    while (history.Count > 0 && history.Peek().At < now - 1500)
                    {
                        var h = history.Dequeue();
                        old = (h.Value, h.Token);
                    }

                    foreach (var (expected, after, isOld) in new[] { (value, carried, false), (old.Value, old.Token, true) })
                    {
                        if (isOld && expected == 0)
                        {
                            continue;
                        }

                        var r0 = Stopwatch.GetTimestamp();
                        try
                        {
                            using var rc = new CancellationTokenSource(callCap);
                            var (seen, role) = await client.ReadAsync(key, after, rc.Token).WaitAsync(callCap);
                            Interlocked.Increment(ref reads);
                            Interlocked.Increment(ref role == "master" ? ref primaryReads : ref replicaReads);
                            if (isOld)
                            {
                                Interlocked.Increment(ref oldReads);
                                if (role != "master") Interlocked.Increment(ref oldReplicaReads);
                            }

                            if (seen < expected) Interlocked.Increment(ref isOld ? ref staleOld : ref staleLatest);
                        }
                        catch (Exception)
                        {
                            Interlocked.Increment(ref readErrors);
                        }

                        var rms = Stopwatch.GetElapsedTime(r0).TotalMilliseconds;
                        lock (maxLock) maxCallMs = Math.Max(maxCallMs, rms);
                    }
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

                var ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                lock (maxLock) maxCallMs = Math.Max(maxCallMs, ms);
                await Task.Delay(10);
            }
        })).ToArray();

        await Task.Delay(TimeSpan.FromSeconds(args.FaultAfterSeconds));
        var verb = cluster ? "cluster failover 1" : "redis failover";
        Console.WriteLine($"drill: injecting '{verb}'");
        await Lab.FaultAsync(args, verb);
        await Task.WhenAll(workers);
        report.DurationMs = sw.Elapsed.TotalMilliseconds;

        Console.WriteLine("drill: restoring the lab");
        var (restoreCode, restoreOut) = await Lab.RunAsync(args, cluster ? "cluster restore" : "redis restore", TimeSpan.FromSeconds(120));
        if (restoreCode != 0) Console.WriteLine("drill: warning: restore failed: " + restoreOut);

        report.WritesAcked = writes;
        report.WritesFailed = writesFailed;
        report.WritesOutcomeUnknown = outcomeUnknown;
        report.ReadsOk = reads - staleLatest - staleOld;
        report.StaleReads = staleLatest + staleOld;
        report.ReadErrors = readErrors;
        report.UserVisibleErrors = writesFailed + readErrors;
        report.MaxCallMs = Math.Round(maxCallMs, 1);
        report.Extra["stale_reads_latest_token"] = staleLatest;
        report.Extra["stale_reads_old_token"] = staleOld;
        report.Extra["reads_by_replica"] = replicaReads;
        report.Extra["reads_by_primary"] = primaryReads;
        report.Extra["old_token_reads"] = oldReads;
        report.Extra["old_token_reads_by_replica"] = oldReplicaReads;
        report.Extra["replication_histories_in_tokens"] = histories.Count;
        return report;
    }

    /// <summary>A key of worker <paramref name="w"/> whose slot is in lab shard <paramref name="shard"/> (0-2).</summary>
    private static string KeyInShard(string run, int w, int shard)
    {
        int[] first = [0, 5461, 10923, ClusterSlot.Count];
        for (var i = 0; ; i++)
        {
            var key = $"drill:{run}:ryw:{w}:{i}";
            var slot = ClusterSlot.Of((RedisKey)key);
            if (slot >= first[shard] && slot < first[shard + 1]) return key;
        }
    }

    /// <summary>The client under test.</summary>
    private abstract class Client : IAsyncDisposable
    {
        public static async Task<Client> CreateAsync(DrillArgs args, bool cluster)
        {
            var b = (int)args.BudgetMs;
            if (args.Client == "seredis")
            {
                var config = cluster
                    ? $"127.0.0.1:17001,127.0.0.1:17002,127.0.0.1:17003,127.0.0.1:17004,127.0.0.1:17005,127.0.0.1:17006,abortConnect=false,syncTimeout={b},asyncTimeout={b}"
                    : $"127.0.0.1:16479,127.0.0.1:16480,127.0.0.1:16481,serviceName=haclient,abortConnect=false,syncTimeout={b},asyncTimeout={b}";
                return new SeRedis(await ConnectionMultiplexer.ConnectAsync(config));
            }

            if (args.Client != "haclient") throw new ArgumentException($"unknown client '{args.Client}' for the token drills (haclient|seredis)");
            var loggerFactory = LoggerFactory.Create(lb => lb.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; }).SetMinimumLevel(LogLevel.Information));
            var options = new RedisOptions
            {
                Resilience = { OperationTimeout = TimeSpan.FromMilliseconds(args.BudgetMs) },
            };
            if (cluster)
            {
                options.Cluster = true;
                options.Endpoints = [.. Enumerable.Range(17001, 6).Select(p => $"127.0.0.1:{p}")];
            }
            else
            {
                options.Sentinels = ["127.0.0.1:16479", "127.0.0.1:16480", "127.0.0.1:16481"];
                options.ServiceName = "haclient";
            }

            var d = RedisDeployment.Create(options, loggerFactory, "drill");
            if (!await d.WaitForPrimaryAsync(TimeSpan.FromSeconds(10))) throw new InvalidOperationException("no primary found");
            return new HaClientClient(d, loggerFactory);
        }

        /// <summary>INCR; the new value and the write's token (empty for plain StackExchange.Redis).</summary>
        public abstract Task<(long Value, RedisConsistencyToken Token)> IncrementAsync(string key, CancellationToken ct);

        /// <summary>The key's value, and the role of the node that served it (<c>master</c> or <c>slave</c>).</summary>
        public abstract Task<(long Value, string Role)> ReadAsync(string key, RedisConsistencyToken after, CancellationToken ct);

        public abstract ValueTask DisposeAsync();

        /// <summary>The value and the serving node's role, from one read-only script (atomic on that node).</summary>
        protected const string ReadScript = "return {redis.call('GET', KEYS[1]), string.match(redis.call('INFO', 'replication'), 'role:(%a+)')}";

        protected static (long Value, string Role) Parse(RedisResult r)
        {
            var parts = (RedisResult[])r!;
            return (parts[0].IsNull ? 0 : long.Parse((string)parts[0]!, CultureInfo.InvariantCulture), (string)parts[1]!);
        }
    }

    private sealed class HaClientClient(RedisDeployment d, ILoggerFactory loggerFactory) : Client
    {
        public override async Task<(long Value, RedisConsistencyToken Token)> IncrementAsync(string key, CancellationToken ct)
        {
            var w = await d.ExecuteKeyWriteWithTokenAsync(key, (db, _) => db.StringIncrementAsync(key), WriteDurability.None, ct);
            return (w.Value, w.Token);
        }

        public override async Task<(long Value, string Role)> ReadAsync(string key, RedisConsistencyToken after, CancellationToken ct)
            => Parse(await d.ExecuteKeyReadAfterAsync(key, (db, _) => db.ExecuteAsync("EVAL_RO", ReadScript, 1, key), after, ct));

        public override async ValueTask DisposeAsync()
        {
            await d.DisposeAsync();
            loggerFactory.Dispose();
        }
    }

    private sealed class SeRedis(ConnectionMultiplexer mux) : Client
    {
        public override async Task<(long Value, RedisConsistencyToken Token)> IncrementAsync(string key, CancellationToken ct)
            => (await mux.GetDatabase().StringIncrementAsync(key), default);

        public override async Task<(long Value, string Role)> ReadAsync(string key, RedisConsistencyToken after, CancellationToken ct)
            => Parse(await mux.GetDatabase().ScriptEvaluateReadOnlyAsync(ReadScript, [key], flags: CommandFlags.PreferReplica));

        public override async ValueTask DisposeAsync()
        {
            await mux.CloseAsync(false).WaitAsync(TimeSpan.FromSeconds(5));
            await mux.DisposeAsync();
        }
    }
}
