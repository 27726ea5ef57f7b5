using System.Text.Json;
using System.Text.Json.Serialization;

namespace HaClient.Drill;

/// <summary>What one drill run measured. Serialised as the last line of the drill's output.</summary>
public sealed class DrillReport
{
    [JsonPropertyName("scenario")] public string Scenario { get; set; } = "";
    [JsonPropertyName("client")] public string Client { get; set; } = "";
    [JsonPropertyName("workload")] public string Workload { get; set; } = "";

    /// <summary>How the client reached PostgreSQL: <c>direct</c> or <c>pgbouncer</c>.</summary>
    [JsonPropertyName("via")] public string Via { get; set; } = "direct";

    /// <summary>From the fault to the first acknowledged write on the new primary/master (-1: never).</summary>
    [JsonPropertyName("window_ms")] public double WindowMs { get; set; } = -1;

    /// <summary>From the moment the new primary first accepts writes (seen by an independent observer) to the client's
    /// first acknowledged write there (-1: never).</summary>
    [JsonPropertyName("detect_ms")] public double DetectMs { get; set; } = -1;

    [JsonPropertyName("writes_acked")] public long WritesAcked { get; set; }
    [JsonPropertyName("writes_failed")] public long WritesFailed { get; set; }
    [JsonPropertyName("writes_outcome_unknown")] public long WritesOutcomeUnknown { get; set; }

    /// <summary>Calls (writes and reads) that ended in any exception: what a user of the service would have seen.</summary>
    [JsonPropertyName("user_visible_errors")] public long UserVisibleErrors { get; set; }

    /// <summary>Lost commits the engine resolved as committed (the caller got its result).</summary>
    [JsonPropertyName("resolved_committed")] public long ResolvedCommitted { get; set; }

    /// <summary>Lost commits the engine resolved as not committed (retried or reported as such).</summary>
    [JsonPropertyName("resolved_not_committed")] public long ResolvedNotCommitted { get; set; }

    /// <summary>Writes whose outcome stayed unknown (<c>WriteOutcomeUnknownException</c>).</summary>
    [JsonPropertyName("unresolved")] public long Unresolved { get; set; }

    /// <summary>Writes a retry tried to write twice (refused by the table's primary key, so counted, never stored).</summary>
    [JsonPropertyName("duplicates")] public long Duplicates { get; set; }

    /// <summary>Acknowledged writes missing on the final primary/master.</summary>
    [JsonPropertyName("lost_acked")] public long LostAcked { get; set; }

    /// <summary>Writes acknowledged by a node the observer last saw in a non-writable role.</summary>
    [JsonPropertyName("wrong_role_writes")] public long WrongRoleWrites { get; set; }
    [JsonPropertyName("reads_ok")] public long ReadsOk { get; set; }

    /// <summary>Reads that broke the consistency they asked for: older than the lag bound, or missing their token's write.</summary>
    [JsonPropertyName("stale_reads")] public long StaleReads { get; set; }
    [JsonPropertyName("read_errors")] public long ReadErrors { get; set; }

    /// <summary>The longest single call, in ms.</summary>
    [JsonPropertyName("max_call_ms")] public double MaxCallMs { get; set; }

    /// <summary>The operation budget the client ran with, in ms.</summary>
    [JsonPropertyName("budget_ms")] public double BudgetMs { get; set; }
    [JsonPropertyName("duration_ms")] public double DurationMs { get; set; }

    /// <summary>brownout: read p99 (ms) from the brownout's start to the end of the run.</summary>
    [JsonPropertyName("read_p99_ms"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? ReadP99Ms { get; set; }

    /// <summary>brownout: read p99 (ms) before the brownout (the first second left out as warm-up).</summary>
    [JsonPropertyName("baseline_read_p99_ms"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? BaselineReadP99Ms { get; set; }

    /// <summary>zone-local: the share of reads served by the local-zone replica while it was healthy.</summary>
    [JsonPropertyName("local_read_share"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? LocalReadShare { get; set; }

    /// <summary>zone-local: from the local replica's crash to the first read served elsewhere that began after it (-1: never).</summary>
    [JsonPropertyName("spill_over_ms"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? SpillOverMs { get; set; }

    /// <summary>zone-local: from the local replica accepting connections again to the first read it served (-1: never).</summary>
    [JsonPropertyName("return_ms"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? ReturnMs { get; set; }

    /// <summary>Scenario-specific figures (for example sessions_created / sessions_lost).</summary>
    [JsonPropertyName("extra")] public Dictionary<string, double> Extra { get; set; } = new();

    public string ToJson() => JsonSerializer.Serialize(this);

    public void PrintReadable(TextWriter w)
    {
        w.WriteLine($"== drill: {Scenario} / client {Client} / workload {Workload}");
        w.WriteLine($"   window_ms (fault -> first acked write on new primary): {WindowMs:0.0}");
        w.WriteLine($"   detect_ms (new primary writable -> first acked write): {DetectMs:0.0}");
        w.WriteLine($"   writes: acked {WritesAcked}, failed {WritesFailed} (outcome unknown {WritesOutcomeUnknown}), lost_acked {LostAcked}, wrong_role {WrongRoleWrites}");
        w.WriteLine($"   user_visible_errors {UserVisibleErrors}; lost commits resolved committed {ResolvedCommitted}, not committed {ResolvedNotCommitted}; unresolved {Unresolved}; duplicates {Duplicates}");
        w.WriteLine($"   reads: ok {ReadsOk}, stale {StaleReads}, errors {ReadErrors}");
        w.WriteLine($"   max_call_ms {MaxCallMs:0.0} (budget {BudgetMs:0} ms), ran {DurationMs / 1000:0.0} s");
        if (ReadP99Ms is not null || BaselineReadP99Ms is not null)
        {
            w.WriteLine($"   read_p99_ms {ReadP99Ms:0.0} (baseline before the brownout {BaselineReadP99Ms:0.0})");
        }

        if (LocalReadShare is not null)
        {
            w.WriteLine($"   local_read_share {LocalReadShare:0.0000}, spill_over_ms {SpillOverMs:0.0}, return_ms {ReturnMs:0.0}");
        }

        foreach (var (k, v) in Extra)
        {
            w.WriteLine($"   {k}: {v}");
        }
    }
}
