using System.Text.Json.Serialization;

namespace HaClient.Drill.Soak;

/// <summary>One test of the report: one fault (or the warm-up, or an observed period), its figures and its verdict.</summary>
public sealed class FaultResult
{
    [JsonPropertyName("n")] public int Index { get; init; }
    [JsonPropertyName("fault")] public string Name { get; init; } = "";
    [JsonPropertyName("at_s")] public double AtSeconds { get; init; }

    /// <summary>From the fault command to healed.</summary>
    [JsonPropertyName("duration_ms")] public double DurationMs { get; set; }
    [JsonPropertyName("healed")] public bool Healed { get; set; }
    [JsonPropertyName("command_ok")] public bool CommandOk { get; set; } = true;

    /// <summary>The longest stretch with no acknowledged write, from the fault to healed (the side the fault hits; both
    /// for a user's command). -1: that side is not configured.</summary>
    [JsonPropertyName("window_ms")] public double WindowMs { get; set; } = -1;
    [JsonPropertyName("pg_window_ms")] public double PgWindowMs { get; set; } = -1;
    [JsonPropertyName("redis_window_ms")] public double RedisWindowMs { get; set; } = -1;
    [JsonPropertyName("pg_primary")] public string PgPrimary { get; set; } = "";
    [JsonPropertyName("redis_master")] public string RedisMaster { get; set; } = "";
    [JsonPropertyName("writes_acked")] public long WritesAcked { get; set; }
    [JsonPropertyName("writes_failed")] public long WritesFailed { get; set; }
    [JsonPropertyName("writes_outcome_unknown")] public long WritesOutcomeUnknown { get; set; }
    [JsonPropertyName("reads_ok")] public long ReadsOk { get; set; }
    [JsonPropertyName("read_errors")] public long ReadErrors { get; set; }

    /// <summary>Reads that missed what they had to see: a token read without its write, a bounded read without a
    /// write acknowledged more than the lag bound before it.</summary>
    [JsonPropertyName("stale_reads")] public long StaleReads { get; set; }

    /// <summary>Writes acknowledged by a node the observer saw as a replica before the write and after its ack.</summary>
    [JsonPropertyName("wrong_role_writes")] public long WrongRoleWrites { get; set; }

    /// <summary>Of <see cref="WrongRoleWrites"/>: writes a node acknowledged after the cluster's majority (Patroni's REST
    /// endpoints with <c>--patroni</c>, the Sentinels) named another primary while the node still answered as one (the
    /// drills' partition rule).</summary>
    [JsonPropertyName("acks_after_majority")] public long AcksAfterMajority { get; set; }

    /// <summary>Acknowledged writes missing on the primary after healed (this window's and the previous one's).</summary>
    [JsonPropertyName("lost_acked")] public long LostAcked { get; set; }

    /// <summary>Lost writes classified as the Patroni 3.0.2 lease bug (reported apart, not a client property).</summary>
    [JsonPropertyName("lost_lease_bug")] public long LostLeaseBug { get; set; }
    /// <summary>Lost writes of a window in which the lab rebuilt that side from empty data (its repair fell back to a
    /// reset): the lab's doing, reported apart.</summary>
    [JsonPropertyName("lost_lab_reset")] public long LostLabReset { get; set; }

    /// <summary>Stale reads of writes the server lost to the lease bug or a lab reset (explained, reported apart).</summary>
    [JsonPropertyName("stale_explained")] public long StaleExplained { get; set; }
    [JsonPropertyName("max_call_ms")] public double MaxCallMs { get; set; }

    /// <summary>Calls longer than the budget + 500 ms.</summary>
    [JsonPropertyName("calls_over_limit")] public long CallsOverLimit { get; set; }
    [JsonPropertyName("passed")] public bool Passed => Failures.Count == 0;
    [JsonPropertyName("failures")] public List<string> Failures { get; } = [];
    [JsonPropertyName("resources")] public ResourceSample? Resources { get; set; }
    [JsonIgnore] public string Note { get; set; } = "";
}
