using System.Globalization;
using System.Text.Json;

namespace HaClient.Drill.Soak;

/// <summary>Every row of a run, the resource figures at the start and end of the measured period, and the report:
/// the failover test report (each test: passed or failed, its duration, its details) and one JSON summary line.</summary>
internal sealed class SoakOutcome(SoakArgs args, string? pg)
{
    /// <summary>Rows before this index are warm-up for the flatness rule (the warm-up and the first two faults: the
    /// pools, the thread pool and the JIT have seen a failover).</summary>
    public const int WarmUpRows = 3;

    public List<FaultResult> Rows { get; } = [];
    public ResourceSample? End { get; set; }
    public double ElapsedSeconds { get; set; }

    public void Add(FaultResult row) => Rows.Add(row);

    private FaultResult[] Faults => Rows.Where(r => r.Index > 0).ToArray();

    /// <summary>The flatness rule applies with at least two faults after the warm-up rows.</summary>
    private ResourceSample? Start => Rows.Count >= WarmUpRows + 2 ? Rows[WarmUpRows - 1].Resources : null;

    private List<string> FlatMisses => Start is { } s && End is { } e ? FlatRule.Check(s, e) : [];

    private long Violations => Rows.Sum(r => r.LostAcked + r.StaleReads + r.WrongRoleWrites + r.CallsOverLimit) + FlatMisses.Count;

    public bool Passed => Rows.Count > 0 && Rows.All(r => r.Passed) && FlatMisses.Count == 0 && (args.Mode != "soak" || Faults.Length > 0);

    public void Print(TextWriter w)
    {
        w.WriteLine();
        w.WriteLine($"== failover test report: haclient-drill {args.Mode}{(args.Mode == "soak" ? $" (seed {args.Seed}, {args.Minutes} min)" : "")}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        if (pg is not null) w.WriteLine($"   PostgreSQL: {pg}{(args.PatroniUrls.Count > 0 ? $", Patroni REST majority of {string.Join(',', args.PatroniUrls)} (client and wrong-role rule)" : "")}{(args.Net ? " (the lab's net part)" : "")}");
        if (args.Sentinels.Count > 0) w.WriteLine($"   Redis: service '{args.RedisService}' via {string.Join(',', args.Sentinels)} (WAIT {args.RedisWaitReplicas})");
        w.WriteLine($"   budget {args.BudgetMs:0} ms, lag bound {args.LagBoundMs:0} ms; thresholds: {ThresholdText()}");
        w.WriteLine($"{"#",3}  {"test",-20} {"result",-7} {"duration",9} {"window ms",10} {"max call",9} {"acked",7} {"failed",6} {"stale",5} {"wrong",5} {"lost",4} {"lease",5} {"heap MB",7} {"pg conns",9} {"redis conns",11}  details");
        foreach (var r in Rows)
        {
            var res = r.Resources;
            var details = string.Join("; ", r.Failures.Concat(string.IsNullOrEmpty(r.Note) ? [] : [r.Note]).DefaultIfEmpty($"pg primary {r.PgPrimary}, redis master {r.RedisMaster}"));
            w.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Index,3}  {r.Name,-20} {(r.Passed ? "PASSED" : "FAILED"),-7} {r.DurationMs / 1000,8:0.0}s {r.WindowMs,10:0} {r.MaxCallMs,9:0} {r.WritesAcked,7} {r.WritesFailed,6} {r.StaleReads,5} {r.WrongRoleWrites,5} {r.LostAcked,4} {r.LostLeaseBug,5} {res?.GcHeapMb,7:0.0} {Join(res?.PgConnections),9} {Join(res?.RedisConnections),11}  {details}"));
        }

        if (Start is { } s && End is { } e)
        {
            var misses = FlatMisses;
            w.WriteLine($"   resources after warm-up (row {WarmUpRows - 1}): {s.Short()}");
            w.WriteLine($"   resources at the end:            {e.Short()}");
            w.WriteLine($"   flat (end <= start x {FlatRule.Factor} + slack): {(misses.Count == 0 ? "PASSED" : "FAILED: " + string.Join("; ", misses))}");
        }
        else
        {
            w.WriteLine($"   resources: not judged for flatness ({Rows.Count} rows; the rule needs the warm-up, two faults and two more)");
        }

        var lease = Rows.Sum(r => r.LostLeaseBug);
        var resets = Rows.Count(r => r.LostLabReset > 0);
        if (resets > 0) w.WriteLine($"   {resets} time(s) the lab's repair (eng/lab.sh converge) rebuilt a side from empty data: {Rows.Sum(r => r.LostLabReset)} writes went with it, reported apart");
        if (lease > 0) w.WriteLine($"   {lease} acknowledged writes lost to the Patroni 3.0.2 lease bug (the thawed old leader took its key back; docs/lab-report.md), reported apart");
        w.WriteLine($"== {Rows.Count(r => r.Passed)} passed, {Rows.Count(r => !r.Passed)} failed; {Faults.Length} faults, {Violations} invariant violations; {(Passed ? "PASSED" : "FAILED")}");
    }

    public string ToJson()
    {
        var byFault = Faults.GroupBy(r => r.Name).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => new
        {
            count = g.Count(),
            passed = g.Count(r => r.Passed),
            max_window_ms = g.Max(r => r.WindowMs),
            max_call_ms = g.Max(r => r.MaxCallMs),
            max_duration_ms = g.Max(r => r.DurationMs),
        });
        var summary = new
        {
            tool = "haclient-drill",
            mode = args.Mode,
            seed = args.Mode == "soak" ? args.Seed : (int?)null,
            minutes = args.Mode == "soak" ? args.Minutes : (double?)null,
            elapsed_s = Math.Round(ElapsedSeconds, 1),
            passed = Passed,
            tests_passed = Rows.Count(r => r.Passed),
            tests_failed = Rows.Count(r => !r.Passed),
            faults = Faults.Length,
            violations = Violations,
            lost_acked = Rows.Sum(r => r.LostAcked),
            stale_reads = Rows.Sum(r => r.StaleReads),
            wrong_role_writes = Rows.Sum(r => r.WrongRoleWrites),
            acks_after_majority = Rows.Sum(r => r.AcksAfterMajority),
            net = args.Net,
            patroni_rest_vote = args.PatroniUrls.Count > 0,
            calls_over_limit = Rows.Sum(r => r.CallsOverLimit),
            lost_lease_bug = Rows.Sum(r => r.LostLeaseBug),
            lost_lab_reset = Rows.Sum(r => r.LostLabReset),
            lab_resets = Rows.Count(r => r.LostLabReset > 0),
            stale_explained = Rows.Sum(r => r.StaleExplained),
            unhealed = Rows.Count(r => !r.Healed),
            writes_acked = Rows.Sum(r => r.WritesAcked),
            writes_failed = Rows.Sum(r => r.WritesFailed),
            max_window_ms = Faults.Select(r => r.WindowMs).DefaultIfEmpty(-1).Max(),
            max_call_ms = Rows.Select(r => r.MaxCallMs).DefaultIfEmpty(0).Max(),
            budget_ms = args.BudgetMs,
            flat = Start is null ? (bool?)null : FlatMisses.Count == 0,
            flat_misses = FlatMisses,
            resources_start = Start,
            resources_end = End,
            by_fault = byFault,
            failures = Rows.Where(r => !r.Passed).Select(r => $"#{r.Index} {r.Name}: {string.Join("; ", r.Failures)}").ToList(),
        };
        return JsonSerializer.Serialize(summary);
    }

    private string ThresholdText()
    {
        var t = args.Thresholds;
        var parts = new List<string>();
        if (t.MaxWindowMs is { } w) parts.Add($"window <= {w:0} ms");
        if (t.MaxCallMs is { } c) parts.Add($"call <= {c:0} ms");
        if (t.MaxHealMs is { } h) parts.Add($"heal <= {h:0} ms");
        parts.Add($"lost <= {t.MaxLost}");
        parts.Add($"stale <= {t.MaxStale}");
        parts.Add($"wrong-role <= {t.MaxWrongRole}");
        if (t.MaxErrors is { } e) parts.Add($"errors <= {e}");
        return string.Join(", ", parts);
    }

    private static string Join(int[]? c) => c is null ? "" : string.Join('/', c);
}
