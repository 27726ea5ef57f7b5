using System.Collections.Concurrent;
using System.Diagnostics;
using HaClient.Postgres;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace HaClient.Drill;

/// <summary>
/// The PostgreSQL drill on the Patroni lab: a bounded write (+read) workload through HaClient or plain Npgsql
/// multi-host, one fault, an independent observer that tries a real write on every node every 5 ms, and a check of
/// every acknowledged write on the final primary.
/// </summary>
public static partial class PostgresDrill
{
    private const string Credentials = "Username=haclient;Password=haclient-lab-pw;Database=haclient";
    private static readonly int[] PatroniPorts = [15442, 15443, 15444];
    private static readonly int[] PlainPorts = [15432, 15433, 15434];

    /// <summary>The lab's nodes: the Patroni lab, or the plain streaming-replication lab for <c>plain-*</c> scenarios.</summary>
    private static int[] Ports = PatroniPorts;

    private static bool IsPlain(DrillArgs args) => args.Scenario.StartsWith("plain-", StringComparison.Ordinal);

    public static async Task<DrillReport> RunAsync(DrillArgs args)
    {
        var report = new DrillReport { Scenario = args.Scenario, Client = args.Client, Workload = args.Workload, BudgetMs = args.BudgetMs, Via = args.Via };
        Ports = IsPlain(args) ? PlainPorts : PatroniPorts;
        var labUp = IsPlain(args) ? "pg up" : "patroni up" + (args.Sync ? " --sync" : string.Empty);

        Console.WriteLine(IsPlain(args) ? "drill: preparing the plain lab" : $"drill: preparing the Patroni lab ({(args.Sync ? "synchronous_mode" : "asynchronous")})");
        var (upCode, upOut) = await Lab.RunAsync(args, labUp, TimeSpan.FromSeconds(180));
        if (upCode != 0)
        {
            throw new InvalidOperationException($"lab.sh {labUp} failed: " + upOut);
        }

        if (args.Via == "pgbouncer")
        {
            var (pbCode, pbOut) = await Lab.RunAsync(args, "pgbouncer up", TimeSpan.FromSeconds(60));
            if (pbCode != 0)
            {
                throw new InvalidOperationException("lab.sh pgbouncer up failed: " + pbOut);
            }
        }

        var leaderPort = await FindPrimaryPortAsync(TimeSpan.FromSeconds(30));
        await using (var setup = new NpgsqlConnection($"Host=127.0.0.1;Port={leaderPort};{Credentials}"))
        {
            await setup.OpenAsync();
            await using var cmd = new NpgsqlCommand("CREATE TABLE IF NOT EXISTS drill_writes(id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp()); TRUNCATE drill_writes; CREATE TABLE IF NOT EXISTS drill_probe(at timestamptz)", setup);
            await cmd.ExecuteNonQueryAsync();
        }

        await using var client = await DrillClient.CreateAsync(args);
        using var stop = new CancellationTokenSource();
        var observer = new Observer(Ports);
        var observerTask = observer.RunAsync(stop.Token);
        using var breakers = new BreakerWatch();
        using var errorKinds = new ErrorKindCounter();
        var ladder = new LadderStats();
        long duplicates = 0;
        var lateness = new TimerLateness();
        var latenessTask = lateness.RunAsync(stop.Token);
        var stalls = StallCatcher.StartFromEnvironment();
        long connectionLimitErrors = 0;
        void Failed(Exception e)
        {
            if (IsDuplicate(e))
            {
                Interlocked.Increment(ref duplicates);
            }

            if (IsConnectionLimit(e))
            {
                Interlocked.Increment(ref connectionLimitErrors);
            }
        }

        var acks = new ConcurrentQueue<Ack>();
        var sw = Stopwatch.StartNew();
        long nextId = 0, writesFailed = 0, outcomeUnknown = 0, readsOk = 0, stale = 0, readErrors = 0;
        double maxCallMs = 0;
        var maxLock = new Lock();
        var overBudget = new List<(double EndMs, double Ms)>();
        void Call(double ms)
        {
            lock (maxLock)
            {
                maxCallMs = Math.Max(maxCallMs, ms);
                if (ms > args.BudgetMs + 100)
                {
                    overBudget.Add((sw.Elapsed.TotalMilliseconds, ms));
                }
            }
        }

        var lagBound = TimeSpan.FromSeconds(1);
        var ackedTimeline = new AckTimeline<long>(Math.Max);
        var deadline = TimeSpan.FromSeconds(args.DurationSeconds);
        var writeOnly = args.Workload == "write";
        var workers = Enumerable.Range(0, args.Concurrency).Select(w => Task.Run(async () =>
        {
            var ops = 0;
            while (sw.Elapsed < deadline && ops++ < 100_000)
            {
                var id = Interlocked.Increment(ref nextId);
                var started = Lab.NowUnixMs();
                var t0 = Stopwatch.GetTimestamp();
                ConsistencyToken token = default;
                var acked = false;
                try
                {
                    using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(args.BudgetMs * 3));
                    var (port, tok) = await client.WriteAsync(id, cts.Token);
                    token = tok;
                    var at = Lab.NowUnixMs();
                    acks.Enqueue(new Ack(id, port, started, at));
                    ackedTimeline.Add(at, id);
                    acked = true;
                }
                catch (HaClientException e) when (e is WriteOutcomeUnknownException)
                {
                    Failed(e);
                    Interlocked.Increment(ref outcomeUnknown);
                    Interlocked.Increment(ref writesFailed);
                }
                catch (Exception e)
                {
                    Failed(e);
                    Interlocked.Increment(ref writesFailed);
                }

                Call(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                if (!writeOnly)
                {
                    // A token read must see this write; a bounded read must see every write acked more than the bound ago.
                    var witness = ackedTimeline.Before(Lab.NowUnixMs() - lagBound.TotalMilliseconds);
                    foreach (var (mustSee, consistency) in new[] { (acked && token != default ? id : 0L, acked ? ReadConsistency.AtLeast(token) : ReadConsistency.WithinLagBound), (witness, ReadConsistency.WithinLagBound) })
                    {
                        if (mustSee == 0)
                        {
                            continue;
                        }

                        var r0 = Stopwatch.GetTimestamp();
                        var readStart = Lab.NowUnixMs();
                        try
                        {
                            using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(args.BudgetMs * 3));
                            if (args.LadderMs > 0 && consistency == ReadConsistency.WithinLagBound && client is HaClientClient ha)
                            {
                                // On the ladder: a degraded read may miss what was acknowledged within its own reported
                                // staleness (plus the 200 ms WAL sampling), never anything older.
                                var (seen, step, staleness) = await ha.SeesOnLadderAsync(mustSee, TimeSpan.FromMilliseconds(args.LadderMs), cts.Token);
                                if (step != ReadStep.Fresh)
                                {
                                    ladder.Record(staleness);
                                }

                                var allowed = step == ReadStep.Fresh ? lagBound : staleness + TimeSpan.FromMilliseconds(250);
                                var stillOwed = ackedTimeline.Before(readStart - allowed.TotalMilliseconds);
                                Interlocked.Increment(ref seen || stillOwed < mustSee ? ref readsOk : ref stale);
                            }
                            else if (await client.SeesAsync(mustSee, consistency, cts.Token))
                            {
                                Interlocked.Increment(ref readsOk);
                            }
                            else
                            {
                                Interlocked.Increment(ref stale);
                            }
                        }
                        catch (Exception e)
                        {
                            Failed(e);
                            Interlocked.Increment(ref readErrors);
                        }

                        Call(Stopwatch.GetElapsedTime(r0).TotalMilliseconds);
                    }
                }

                await Task.Delay(10);
            }
        })).ToArray();

        await Task.Delay(TimeSpan.FromSeconds(args.FaultAfterSeconds));
        var oldPrimary = observer.CurrentPrimary();
        Console.WriteLine($"drill: injecting '{args.Scenario}' (primary {oldPrimary})");
        double faultAt;
        string? pausedReplica = null;
        switch (args.Scenario)
        {
            case "crash": faultAt = await Lab.FaultAsync(args, "patroni crash-leader"); break;
            case "kill-postmaster": faultAt = await Lab.FaultAsync(args, "patroni kill-postmaster"); break;
            case "hang": faultAt = await Lab.FaultAsync(args, "patroni hang-leader"); break;
            case "switchover": faultAt = await Lab.FaultAsync(args, "patroni switchover"); break;
            case "plain-hang":
                // A storm: the primary freezes and a standby is promoted about a second later, as an operator or an
                // external failover manager would; the frozen primary stays frozen until the drill ends.
                faultAt = await Lab.FaultAsync(args, "pg hang-primary");
                await Task.Delay(TimeSpan.FromSeconds(args.PromoteAfterSeconds));
                var standby = Array.IndexOf(PlainPorts, Ports.First(p => p != oldPrimary)) + 1;
                await Lab.FaultAsync(args, $"pg promote n{standby}");
                break;
            case "lag":
                pausedReplica = Ports.First(p => p != oldPrimary).ToString(System.Globalization.CultureInfo.InvariantCulture);
                faultAt = Lab.NowUnixMs();
                await ExecAsync(int.Parse(pausedReplica, System.Globalization.CultureInfo.InvariantCulture), "SELECT pg_wal_replay_pause()");
                break;
            default: throw new ArgumentException(args.Scenario);
        }

        observer.FaultAt = faultAt;
        await Task.WhenAll(workers);
        report.DurationMs = sw.Elapsed.TotalMilliseconds;
        await stop.CancelAsync();
        await observerTask;
        await latenessTask;
        stalls?.Stop();
        lateness.Report(report, faultAt);
        report.Extra["connection_limit_errors"] = Interlocked.Read(ref connectionLimitErrors);
        report.Extra["breaker_opens_healthy"] = breakers.OpensExcept($"127.0.0.1:{oldPrimary}");
        report.Extra["concurrency"] = args.Concurrency;
        report.Extra["calls_over_budget_100ms"] = overBudget.Count;
        if (overBudget.Count > 0)
        {
            // When they ended (drill clock) and by how much: a serial release shows as a ramp ending together.
            var first = overBudget.Min(o => o.EndMs);
            Console.WriteLine($"drill: {overBudget.Count} calls past budget + 100 ms, ended over {overBudget.Max(o => o.EndMs) - first:0} ms from {first:0} ms; longest {overBudget.Max(o => o.Ms):0.0} ms");
        }

        Console.WriteLine("drill: restoring the lab");
        if (pausedReplica is not null)
        {
            await ExecAsync(int.Parse(pausedReplica, System.Globalization.CultureInfo.InvariantCulture), "SELECT pg_wal_replay_resume()");
        }

        if (args.Scenario == "hang")
        {
            await Lab.RunAsync(args, "patroni resume", TimeSpan.FromSeconds(60));
        }

        // The plain lab's `pg up` resumes the frozen old primary and rebuilds it as a replica of the promoted one.
        var (restoreCode, restoreOut) = await Lab.RunAsync(args, IsPlain(args) ? "pg up" : "patroni restore", TimeSpan.FromSeconds(180));
        if (restoreCode != 0)
        {
            Console.WriteLine("drill: warning: patroni restore failed: " + restoreOut);
        }

        // Every acknowledged write must be on the final primary.
        var finalPort = await FindPrimaryPortAsync(TimeSpan.FromSeconds(60));
        var ackList = acks.ToArray();
        var ids = ackList.Select(a => a.Id).ToArray();
        await using (var check = new NpgsqlConnection($"Host=127.0.0.1;Port={finalPort};{Credentials}"))
        {
            await check.OpenAsync();
            await using var cmd = new NpgsqlCommand("SELECT count(*) FROM drill_writes WHERE id = ANY(@ids)", check);
            cmd.Parameters.AddWithValue("ids", ids);
            var found = (long)(await cmd.ExecuteScalarAsync())!;
            report.LostAcked = ids.Length - found;
        }

        report.WritesAcked = ackList.Length;
        report.WritesFailed = writesFailed;
        report.WritesOutcomeUnknown = outcomeUnknown;
        report.UserVisibleErrors = writesFailed + readErrors;
        report.ResolvedCommitted = errorKinds[HaClient.Telemetry.ErrorKinds.WriteResolvedCommitted];
        report.ResolvedNotCommitted = errorKinds[HaClient.Telemetry.ErrorKinds.WriteResolvedNotCommitted];
        report.Unresolved = outcomeUnknown;
        report.Duplicates = duplicates;
        report.Extra["write_mode_" + args.WriteMode] = 1;
        if (args.LadderMs > 0)
        {
            report.Extra["ladder_max_staleness_ms"] = args.LadderMs;
            report.Extra["degraded_reads"] = ladder.Count;
            report.Extra["degraded_max_staleness_ms"] = Math.Round(ladder.MaxMs, 1);
        }
        report.Extra["writes_not_committed_retried"] = errorKinds[HaClient.Telemetry.ErrorKinds.WriteRetried];
        report.ReadsOk = readsOk;
        report.StaleReads = stale;
        report.ReadErrors = readErrors;
        report.MaxCallMs = Math.Round(maxCallMs, 1);
        var (promotedPort, promotedAt) = args.Scenario == "lag" ? (-1, -1.0) : observer.FirstWritableAfterFault(oldPrimary);
        report.WrongRoleWrites = ackList.Count(a =>
            observer.WasReplicaThroughout(a.Port, a.StartedAt, a.AckedAt)
            || (promotedPort > 0 && a.Port != promotedPort && a.StartedAt > promotedAt));

        if (args.Scenario != "lag")
        {
            var (newPort, writableAt) = observer.FirstWritableAfterFault(oldPrimary);
            var firstAck = ackList.Where(a => a.AckedAt > faultAt && a.Port != oldPrimary).OrderBy(a => a.AckedAt).FirstOrDefault();
            if (firstAck is not null)
            {
                report.WindowMs = Math.Round(firstAck.AckedAt - faultAt, 1);
                if (writableAt > 0 && firstAck.Port == newPort)
                {
                    report.DetectMs = Math.Round(Math.Max(0, firstAck.AckedAt - writableAt), 1);
                }
            }

            report.Extra["old_primary_port"] = oldPrimary;
            report.Extra["new_primary_port"] = newPort;
            report.Extra["observer_writable_after_fault_ms"] = writableAt > 0 ? Math.Round(writableAt - faultAt, 1) : -1;
        }
        else
        {
            report.Extra["paused_replica_port"] = double.Parse(pausedReplica!, System.Globalization.CultureInfo.InvariantCulture);
            report.Extra["lag_bound_ms"] = lagBound.TotalMilliseconds;
        }

        return report;
    }

    private static async Task ExecAsync(int port, string sql)
    {
        await using var c = new NpgsqlConnection($"Host=127.0.0.1;Port={port};{Credentials};Timeout=3");
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, c);
        await cmd.ExecuteNonQueryAsync();
    }

    private static async Task<int> FindPrimaryPortAsync(TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < timeout)
        {
            foreach (var port in Ports)
            {
                try
                {
                    await using var c = new NpgsqlConnection($"Host=127.0.0.1;Port={port};{Credentials};Timeout=2;Pooling=false");
                    await c.OpenAsync();
                    await using var cmd = new NpgsqlCommand("SELECT pg_is_in_recovery()", c);
                    if (!(bool)(await cmd.ExecuteScalarAsync())!)
                    {
                        return port;
                    }
                }
                catch (Exception)
                {
                }
            }

            await Task.Delay(200);
        }

        throw new TimeoutException("no primary found in the lab");
    }

    /// <summary>Whether <paramref name="e"/> or a cause inside it is the server refusing a connection for being full.</summary>
    private static bool IsDuplicate(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation })
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsConnectionLimit(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is PostgresException { SqlState: PostgresErrorCodes.TooManyConnections })
            {
                return true;
            }
        }

        return false;
    }

    private sealed record Ack(long Id, int Port, double StartedAt, double AckedAt);

    /// <summary>Tries a real write on every node every 5 ms: records each node's role over time and the first write
    /// each node acknowledged after the fault.</summary>
    private sealed class Observer(int[] ports) : RoleHistory
    {
        public async Task RunAsync(CancellationToken stop) => await Task.WhenAll(ports.Select(p => LoopAsync(p, stop)));

        private async Task LoopAsync(int port, CancellationToken stop)
        {
            NpgsqlConnection? c = null;
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    // The observer must not stall the process it measures: it bounds its calls with WaitAsync only and
                    // gives Npgsql neither a token nor a command timeout. Either would make Npgsql send a cancel request
                    // to a frozen node synchronously on a thread-pool thread (a timer's, or the one awaiting the read),
                    // which held the pool for seconds 30 s into every hang (HACLIENT_DRILL_STALL_DUMP showed it).
                    if (c is null)
                    {
                        c = new NpgsqlConnection($"Host=127.0.0.1;Port={port};{Credentials};Timeout=1;Command Timeout=0;Pooling=false;Cancellation Timeout=-1;Application Name=drill-observer");
                        await c.OpenAsync(CancellationToken.None).WaitAsync(TimeSpan.FromMilliseconds(500), stop);
                    }

                    await using var cmd = new NpgsqlCommand("SELECT pg_is_in_recovery()", c);
                    var inRecovery = (bool)(await cmd.ExecuteScalarAsync(CancellationToken.None).WaitAsync(TimeSpan.FromMilliseconds(300), stop))!;
                    var at = Lab.NowUnixMs();
                    Record(port, at, primary: !inRecovery);
                    if (!inRecovery && AwaitsWritableAfterFault(port, at))
                    {
                        // Writable means a write is acknowledged (in synchronous mode that waits for a standby).
                        await using var w = new NpgsqlCommand("INSERT INTO drill_probe VALUES (clock_timestamp())", c);
                        await w.ExecuteNonQueryAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5), stop);
                        RecordWritableAfterFault(port, Lab.NowUnixMs());
                    }
                }
                catch (Exception) when (!stop.IsCancellationRequested)
                {
                    var dead = c;
                    c = null;
                    _ = Task.Run(async () =>
                    {
                        try
                        {
                            if (dead is not null)
                            {
                                await dead.DisposeAsync();
                            }
                        }
                        catch (Exception)
                        {
                        }
                    });
                }
                catch (Exception)
                {
                    break;
                }

                try
                {
                    await Task.Delay(5, stop);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }

            if (c is not null)
            {
                try
                {
                    await c.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(1));
                }
                catch (Exception)
                {
                }
            }
        }
    }

    /// <summary>The client under test: HaClient or plain Npgsql multi-host.</summary>
    private abstract class DrillClient : IAsyncDisposable
    {
        public static async Task<DrillClient> CreateAsync(DrillArgs args)
        {
            var hosts = string.Join(',', Ports.Select(p => $"127.0.0.1:{p}"));
            var pooled = args.Via == "pgbouncer";

            // The lab's PgBouncer in front of each node listens 20 ports above it (15442 -> 15462, 15432 -> 15452).
            static int PoolerOf(int port) => port + 20;
            if (args.Client == "npgsql")
            {
                // Plain Npgsql multi-host through the poolers, with Npgsql's own advice behind PgBouncer.
                return new NpgsqlClient(pooled
                    ? $"Host={string.Join(',', Ports.Select(p => $"127.0.0.1:{PoolerOf(p)}"))};{Credentials};No Reset On Close=true"
                    : $"Host={hosts};{Credentials}");
            }

            if (args.Client is not ("haclient" or "efcore"))
            {
                throw new ArgumentException($"--client {args.Client}: PostgreSQL drills take haclient, efcore or npgsql");
            }

            var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; })
                .SetMinimumLevel(LogLevel.Information).AddFilter("Npgsql", LogLevel.Warning));
            var cluster = PostgresCluster.Create(new PostgresClusterOptions
            {
                ConnectionString = $"Host={hosts};{Credentials}",
                Hosts = pooled ? Ports.Select(p => $"127.0.0.1:{p} via 127.0.0.1:{PoolerOf(p)}").ToList() : [],
                ReplicaLag = { MaxLagTime = TimeSpan.FromSeconds(1) },
                Resilience = { OperationTimeout = TimeSpan.FromMilliseconds(args.BudgetMs) },
            }, loggerFactory, "drill");
            await cluster.WaitForTopologyAsync(TimeSpan.FromSeconds(5));
            return args.Client == "efcore" ? new EfCoreClient(cluster, loggerFactory) : new HaClientClient(cluster, loggerFactory, args.WriteMode);
        }

        public abstract Task<(int Port, ConsistencyToken Token)> WriteAsync(long id, CancellationToken ct);

        public abstract Task<bool> SeesAsync(long id, ReadConsistency consistency, CancellationToken ct);

        public abstract ValueTask DisposeAsync();

        protected static async Task<(int, ConsistencyToken)> InsertAsync(NpgsqlConnection c, long id, CancellationToken ct)
        {
            await using var cmd = new NpgsqlCommand("INSERT INTO drill_writes(id) VALUES (@id) RETURNING inet_server_port()", c);
            cmd.Parameters.AddWithValue("id", id);
            var port = (int)(await cmd.ExecuteScalarAsync(ct))!;
            return (port, default);
        }

        protected static async Task<bool> ExistsAsync(NpgsqlConnection c, long id, CancellationToken ct)
        {
            await using var cmd = new NpgsqlCommand("SELECT EXISTS (SELECT 1 FROM drill_writes WHERE id = @id)", c);
            cmd.Parameters.AddWithValue("id", id);
            return (bool)(await cmd.ExecuteScalarAsync(ct))!;
        }
    }

    private sealed class HaClientClient(PostgresCluster cluster, ILoggerFactory loggerFactory, string writeMode) : DrillClient
    {
        public override async Task<(int, ConsistencyToken)> WriteAsync(long id, CancellationToken ct)
        {
            if (writeMode != "autocommit")
            {
                // No token from a transaction: its read-your-writes check is skipped (the bounded read still runs).
                var retry = writeMode == "transaction-retry" ? HaClient.Failover.WriteRetry.WhenNotCommitted : HaClient.Failover.WriteRetry.None;
                return await cluster.ExecuteTransactionAsync((c, t) => InsertAsync(c, id, t), retry, ct);
            }

            var r = await cluster.ExecuteWriteWithTokenAsync((c, t) => InsertAsync(c, id, t), ct);
            return (r.Value.Item1, r.Token);
        }

        public override Task<bool> SeesAsync(long id, ReadConsistency consistency, CancellationToken ct)
            => cluster.ExecuteReadAsync((c, t) => ExistsAsync(c, id, t), consistency, ct);

        /// <summary>A bounded read on the ladder (a stale replica when no fresh node and no primary): whether it saw the
        /// row, which step served it and how stale it said it was.</summary>
        public async Task<(bool Seen, ReadStep Step, TimeSpan Staleness)> SeesOnLadderAsync(long id, TimeSpan maxStaleness, CancellationToken ct)
        {
            var r = await cluster.ExecuteReadWithLadderAsync((c, t) => ExistsAsync(c, id, t), new ReadLadder<bool>(maxStaleness), ct);
            return (r.Value, r.Step, r.Staleness);
        }

        public override async ValueTask DisposeAsync()
        {
            await cluster.DisposeAsync();
            loggerFactory.Dispose();
        }
    }

    /// <summary>Plain Npgsql multi-host: primary for writes, prefer-standby for reads. No lag bound, no tokens.</summary>
    private sealed class NpgsqlClient : DrillClient
    {
        private readonly NpgsqlMultiHostDataSource _source;
        private readonly NpgsqlDataSource _writer;
        private readonly NpgsqlDataSource _reader;

        public NpgsqlClient(string connectionString)
        {
            _source = new NpgsqlDataSourceBuilder(connectionString).BuildMultiHost();
            _writer = _source.WithTargetSession(TargetSessionAttributes.Primary);
            _reader = _source.WithTargetSession(TargetSessionAttributes.PreferStandby);
        }

        public override async Task<(int, ConsistencyToken)> WriteAsync(long id, CancellationToken ct)
        {
            await using var c = await _writer.OpenConnectionAsync(ct);
            return await InsertAsync(c, id, ct);
        }

        public override async Task<bool> SeesAsync(long id, ReadConsistency consistency, CancellationToken ct)
        {
            await using var c = await _reader.OpenConnectionAsync(ct);
            return await ExistsAsync(c, id, ct);
        }

        public override ValueTask DisposeAsync() => _source.DisposeAsync();
    }
}
