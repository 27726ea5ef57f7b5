using System.Diagnostics;

namespace HaClient.Drill.Soak;

/// <summary>
/// The soak and the user's drill run: a steady workload on each configured side, faults back to back (the lab
/// catalogue drawn at random by seed, or the user's commands in order, or one observed period), each held, healed and
/// checked before the next, with resource samples after each.
/// </summary>
internal sealed class SoakRunner(SoakArgs args)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private PgObserver? _pgObserver;
    private RedisObserver? _redisObserver;
    private PatroniVerdicts? _pgVerdicts;
    private SentinelVerdicts? _redisVerdicts;

    public async Task<SoakOutcome> RunAsync()
    {
        if (args.Mode == "soak") await PrepareLabAsync();
        var pg = args.Postgres is null ? null : PgTarget.Parse(args.Postgres);
        Console.WriteLine($"drill: {(args.Mode == "soak" ? $"soak for {args.Minutes} min, seed {args.Seed}" : args.Observe is { } o ? $"observing for {o.TotalSeconds:0} s" : $"{args.Faults.Count} fault(s)")}; budget {args.BudgetMs:0} ms, lag bound {args.LagBoundMs:0} ms, {args.Concurrency} workers per side");
        if (pg is not null)
        {
            Console.WriteLine($"drill: PostgreSQL {pg}");
            _pgObserver = new PgObserver(pg);
            _pgObserver.Start();
            if (args.PatroniUrls.Count > 0)
            {
                _pgVerdicts = new PatroniVerdicts(args.PatroniUrls, _pgObserver.Names);
                _pgVerdicts.Start();
            }
        }

        if (args.Sentinels.Count > 0)
        {
            var nodes = RedisObserver.Discover(args.Sentinels, args.RedisService);
            Console.WriteLine($"drill: Redis service '{args.RedisService}' via {args.Sentinels.Count} Sentinel(s), nodes {string.Join(',', nodes)}");
            _redisObserver = new RedisObserver(nodes, args.RedisPassword);
            _redisObserver.Start();
            _redisVerdicts = new SentinelVerdicts(args.Sentinels, args.RedisService, _redisObserver.Names);
            _redisVerdicts.Start();
        }

        using var stop = new CancellationTokenSource();
        var outcome = new SoakOutcome(args, pg?.ToString());
        PgSoakWorkload? pgLoad = null;
        RedisSoakWorkload? redisLoad = null;
        try
        {
            await WaitAsync("a primary seen on every side", TimeSpan.FromSeconds(30), () => (_pgObserver?.PrimaryNow() ?? 0) >= 0 && (_redisObserver?.PrimaryNow() ?? 0) >= 0);
            SideTracker<long>? pgSide = null;
            SideTracker<string>? redisSide = null;
            if (pg is not null)
            {
                pgLoad = new PgSoakWorkload(pg, args, _pgObserver!);
                await pgLoad.StartAsync(stop.Token);
                pgSide = new SideTracker<long>(_pgObserver!, pgLoad.MissingAsync, _pgVerdicts is { } v ? v.NamedAnother : null);
            }

            if (_redisObserver is not null)
            {
                redisLoad = new RedisSoakWorkload(args, _redisObserver);
                await redisLoad.StartAsync(stop.Token);
                redisSide = new SideTracker<string>(_redisObserver, redisLoad.MissingAsync, _redisVerdicts!.NamedAnother);
            }

            var closer = new WindowCloser(args, pgLoad, pgSide, redisLoad, redisSide, _pgObserver, _redisObserver);
            var t0 = Lab.NowUnixMs();
            await Task.Delay(args.WarmUp);
            outcome.Add(await closer.CloseAsync(0, "warm-up", null, Seconds(), t0, Lab.NowUnixMs(), -1, -1, stop.Token));

            var rnd = new Random(args.Seed);
            var catalogue = LabFaults.For(args.Net).Where(f => args.Only.Count == 0 || args.Only.Contains(f.Name)).ToArray();
            var deadline = TimeSpan.FromMinutes(args.Minutes);
            for (var n = 1; n <= args.MaxFaults; n++)
            {
                FaultSpec? fault;
                if (args.Mode == "soak")
                {
                    if (_clock.Elapsed >= deadline) break;
                    fault = catalogue[rnd.Next(catalogue.Length)];
                }
                else if (args.Observe is not null)
                {
                    if (n > 1) break;
                    fault = null;
                }
                else
                {
                    if (n > args.Faults.Count) break;
                    fault = args.Faults[n - 1];
                }

                var row = await RunOneAsync(n, fault, closer, stop.Token);
                outcome.Add(row);
                if (!row.Healed)
                {
                    Console.WriteLine($"drill: #{n} {row.Name} did not heal within {args.HealTimeout.TotalSeconds:0} s; no further faults");
                    break;
                }
            }

            outcome.End = ResourceSample.Take(Seconds(), _pgObserver, _redisObserver);
        }
        finally
        {
            await stop.CancelAsync();
            if (pgLoad is not null) await pgLoad.StopAsync();
            if (redisLoad is not null) await redisLoad.StopAsync();
            _pgObserver?.Stop();
            _redisObserver?.Stop();
            _pgVerdicts?.Stop();
            _redisVerdicts?.Stop();
            if (pgLoad is not null) await pgLoad.DisposeAsync();
            if (redisLoad is not null) await redisLoad.DisposeAsync();
        }

        outcome.ElapsedSeconds = Seconds();
        return outcome;
    }

    private async Task<FaultResult> RunOneAsync(int n, FaultSpec? fault, WindowCloser closer, CancellationToken ct)
    {
        var name = fault?.Name ?? "observe";
        var at = Seconds();
        var oldPg = _pgObserver?.PrimaryNow() ?? -1;
        var oldRedis = _redisObserver?.PrimaryNow() ?? -1;
        var faultAt = Lab.NowUnixMs();
        var notes = new List<string>();
        var commandOk = true;
        if (fault is not null)
        {
            var r = await ShellCommand.RunAsync(fault.Command, WorkDir, TimeSpan.FromSeconds(120), ct);
            if (r.FaultAtUnixMs is { } f && f > faultAt - 60_000 && f <= Lab.NowUnixMs()) faultAt = f;
            if (r.ExitCode != 0)
            {
                commandOk = false;
                notes.Add($"fault command exited {(r.TimedOut ? "(timed out)" : r.ExitCode)}: {r.Tail()}");
            }

            await HoldAsync(fault, oldPg, oldRedis, notes);
            if (fault.HealCommand is not null)
            {
                var h = await ShellCommand.RunAsync(fault.HealCommand, WorkDir, TimeSpan.FromSeconds(240), ct);
                if (h.ExitCode != 0) notes.Add($"heal command exited {(h.TimedOut ? "(timed out)" : h.ExitCode)}: {h.Tail()}");
                // What the lab had to repair (eng/lab.sh logs each repair as "lab: repaired: ..."), for the report.
                notes.AddRange(h.Output.Split('\n').Where(l => l.Contains("repaired:", StringComparison.Ordinal)).Select(l => l.Trim().Replace("lab: ", "", StringComparison.Ordinal)).Take(4));
            }
        }
        else
        {
            Console.WriteLine($"drill: observing for {args.Observe!.Value.TotalSeconds:0} s: cause the fault now");
            await Task.Delay(args.Observe!.Value, ct);
        }

        var healed = await HealedAsync(fault, faultAt);
        if (!healed && fault?.HealCommand is not null)
        {
            // One more heal (a lab repair can race with Patroni's own); then the check again.
            await ShellCommand.RunAsync(fault.HealCommand, WorkDir, TimeSpan.FromSeconds(240), ct);
            healed = await HealedAsync(fault, faultAt);
        }

        var healedAt = Lab.NowUnixMs();
        var row = await closer.CloseAsync(n, name, fault, at, faultAt, healedAt, oldPg, oldRedis, ct);
        row.Healed = healed;
        row.CommandOk = commandOk;
        row.Note = string.Join("; ", notes.Append(row.Note).Where(x => x.Length > 0));
        if (!healed) row.Failures.Add($"not healed within {args.HealTimeout.TotalSeconds:0} s");
        if (!commandOk) row.Failures.Add(notes[0]);
        return row;
    }

    private async Task HoldAsync(FaultSpec fault, int oldPg, int oldRedis, List<string> notes)
    {
        var bound = TimeSpan.FromSeconds(60);
        switch (fault.Hold)
        {
            case FaultHold.Settle: await Task.Delay(args.Settle); break;
            case FaultHold.Seconds: await Task.Delay(TimeSpan.FromSeconds(fault.HoldSeconds)); break;
            case FaultHold.NewPgPrimary:
                if (!await WaitAsync("a new PostgreSQL primary", bound, () => _pgObserver!.PrimaryOtherThan(oldPg))) notes.Add("no new primary within 60 s");
                break;
            case FaultHold.NewRedisMaster:
                if (!await WaitAsync("a new Redis master", bound, () => _redisObserver!.PrimaryOtherThan(oldRedis))) notes.Add("no new master within 60 s");
                break;
            case FaultHold.None: break;
        }
    }

    /// <summary>Polls the fault's healed check (or the built-in one) every 500 ms, up to the heal timeout.</summary>
    private async Task<bool> HealedAsync(FaultSpec? fault, double faultAt)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < args.HealTimeout)
        {
            bool ok;
            if (fault?.HealedCheck is { } check)
            {
                ok = (await ShellCommand.RunAsync(check, WorkDir, TimeSpan.FromSeconds(30))).ExitCode == 0;
            }
            else
            {
                ok = (_pgObserver?.AllAnsweringOnePrimary(2000) ?? true) && (_redisObserver?.AllAnsweringOnePrimary(2000) ?? true);
            }

            // The workload must be writing again too (its window ends at its first acknowledgement after healed).
            if (ok) return true;
            await Task.Delay(500);
        }

        return false;
    }

    /// <summary>The loopback lab (Patroni in synchronous mode, Redis), or the net part (both in namespaces, Patroni's
    /// synchronous mode set over its REST API); the net part is left up (<c>bash eng/lab.sh net down</c> removes it).</summary>
    private async Task PrepareLabAsync()
    {
        foreach (var verbs in args.Net ? new[] { "net up all", "net patroni sync true", "net patroni restore", "net redis restore" } : new[] { "patroni up --sync", "redis up" })
        {
            Console.WriteLine($"drill: bash eng/lab.sh {verbs}");
            var r = await ShellCommand.RunAsync(LabFaults.Lab(verbs), args.RepoRoot, TimeSpan.FromSeconds(300));
            if (r.ExitCode != 0) throw new InvalidOperationException($"lab.sh {verbs} failed: {r.Tail(8)}");
        }
    }

    private string WorkDir => args.Mode == "soak" ? args.RepoRoot : Directory.GetCurrentDirectory();

    private double Seconds() => _clock.Elapsed.TotalSeconds;

    private static async Task<bool> WaitAsync(string what, TimeSpan timeout, Func<bool> condition)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < timeout)
        {
            if (condition()) return true;
            await Task.Delay(50);
        }

        Console.WriteLine($"drill: waited {timeout.TotalSeconds:0} s for {what}");
        return false;
    }
}
