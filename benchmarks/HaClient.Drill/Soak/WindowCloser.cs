namespace HaClient.Drill.Soak;

/// <summary>Turns the closed windows of both sides into one test row: the figures, the verdict against the thresholds
/// and a resource sample; prints the row as it completes.</summary>
internal sealed class WindowCloser(SoakArgs args, PgSoakWorkload? pgLoad, SideTracker<long>? pgSide, RedisSoakWorkload? redisLoad,
    SideTracker<string>? redisSide, PgObserver? pgObserver, RedisObserver? redisObserver)
{
    public async Task<FaultResult> CloseAsync(int n, string name, FaultSpec? fault, double atSeconds, double faultAt, double healedAt, int oldPg, int oldRedis, CancellationToken ct)
    {
        var row = new FaultResult { Index = n, Name = name, AtSeconds = Math.Round(atSeconds, 1), DurationMs = Math.Round(healedAt - faultAt, 1), Healed = true };
        var target = fault?.Target ?? FaultTarget.Any;
        var sides = new List<SideFigures>();
        if (pgLoad is not null && pgSide is not null)
        {
            var w = pgLoad.BeginWindow();
            pgLoad.Roll();
            var f = await pgSide.CloseAsync(w, faultAt, healedAt, oldPg, fault?.LeaseBugPossible == true, ct);
            row.PgWindowMs = f.WindowMs;
            row.PgPrimary = Name(pgObserver, pgObserver!.PrimaryNow());
            sides.Add(f);
            if (!f.Checked) row.Failures.Add("PostgreSQL: no primary answered the lost-write check");
        }

        if (redisLoad is not null && redisSide is not null)
        {
            var w = redisLoad.BeginWindow();
            redisLoad.Roll();
            var f = await redisSide.CloseAsync(w, faultAt, healedAt, oldRedis, leaseBugPossible: false, ct);
            row.RedisWindowMs = f.WindowMs;
            row.RedisMaster = Name(redisObserver, redisObserver!.PrimaryNow());
            sides.Add(f);
            if (!f.Checked) row.Failures.Add("Redis: no master answered the lost-write check");
        }

        row.WindowMs = target switch
        {
            FaultTarget.Postgres => row.PgWindowMs,
            FaultTarget.Redis => row.RedisWindowMs,
            _ => Math.Max(row.PgWindowMs, row.RedisWindowMs),
        };
        row.WritesAcked = sides.Sum(s => s.Acked);
        row.WritesFailed = sides.Sum(s => s.Failed);
        row.WritesOutcomeUnknown = sides.Sum(s => s.OutcomeUnknown);
        row.ReadsOk = sides.Sum(s => s.ReadsOk);
        row.ReadErrors = sides.Sum(s => s.ReadErrors);
        row.StaleReads = sides.Sum(s => s.Stale);
        row.WrongRoleWrites = sides.Sum(s => s.WrongRole);
        row.AcksAfterMajority = sides.Sum(s => s.WrongRoleByMajority);
        row.LostAcked = sides.Sum(s => s.Lost);
        row.LostLeaseBug = sides.Sum(s => s.LostLeaseBug);
        row.LostLabReset = sides.Sum(s => s.LostLabReset);
        row.StaleExplained = sides.Sum(s => s.StaleExplained);
        if (row.LostLabReset > 0) row.Note = "the lab's repair rebuilt a side from empty data";
        if (row.AcksAfterMajority > 0) row.Note = string.Join("; ", new[] { row.Note, $"{row.AcksAfterMajority} writes acknowledged after the majority (Patroni's REST endpoints, the Sentinels) named another primary" }.Where(x => x.Length > 0));
        var staleDetail = string.Join(", ", sides.Select(x => x.StaleDetail).Where(x => x.Length > 0));
        if (staleDetail.Length > 0) row.Note = string.Join("; ", new[] { row.Note, "stale: " + staleDetail }.Where(x => x.Length > 0));
        row.MaxCallMs = sides.Select(s => s.MaxCallMs).DefaultIfEmpty(0).Max();
        row.CallsOverLimit = sides.Sum(s => s.OverLimit);
        Judge(row, n == 0);
        row.Resources = ResourceSample.Take(atSeconds + (healedAt - faultAt) / 1000, pgObserver, redisObserver);
        Console.WriteLine($"drill: #{n} {name}: {(row.Passed ? "passed" : "FAILED")} in {row.DurationMs / 1000:0.0} s; window {row.WindowMs:0} ms, max call {row.MaxCallMs:0} ms, "
            + $"acked {row.WritesAcked}, failed {row.WritesFailed}, stale {row.StaleReads}, wrong-role {row.WrongRoleWrites}, lost {row.LostAcked} (lease bug {row.LostLeaseBug}, lab reset {row.LostLabReset}, stale explained {row.StaleExplained}); {row.Resources.Short()}");
        return row;
    }

    /// <summary>The thresholds (in soak mode the invariants: no call past budget + 500 ms, nothing lost, stale or
    /// acknowledged by a replica).</summary>
    private void Judge(FaultResult row, bool warmUp)
    {
        var t = args.Thresholds;
        if (!warmUp && t.MaxWindowMs is { } mw && row.WindowMs > mw) row.Failures.Add($"window {row.WindowMs:0} ms > --max-window {mw:0} ms");
        if (t.MaxCallMs is { } mc && row.MaxCallMs > mc) row.Failures.Add($"a call took {row.MaxCallMs:0} ms > --max-call {mc:0} ms ({row.CallsOverLimit} past budget + 500 ms)");
        if (!warmUp && t.MaxHealMs is { } mh && row.DurationMs > mh) row.Failures.Add($"healed after {row.DurationMs:0} ms > --max-heal {mh:0} ms");
        if (row.LostAcked > t.MaxLost) row.Failures.Add($"{row.LostAcked} acknowledged writes lost > --max-lost {t.MaxLost}");
        if (row.StaleReads > t.MaxStale) row.Failures.Add($"{row.StaleReads} stale reads > --max-stale {t.MaxStale}");
        if (row.WrongRoleWrites > t.MaxWrongRole) row.Failures.Add($"{row.WrongRoleWrites} writes acknowledged by a replica > --max-wrong-role {t.MaxWrongRole}");
        if (t.MaxErrors is { } me && row.WritesFailed + row.ReadErrors > me) row.Failures.Add($"{row.WritesFailed + row.ReadErrors} failed calls > --max-errors {me}");
        if (row.WritesAcked == 0) row.Failures.Add("no write was acknowledged in this window");
    }

    private static string Name(NodeObserver? o, int node) => o is null || node < 0 ? "?" : o.Names[node];
}
