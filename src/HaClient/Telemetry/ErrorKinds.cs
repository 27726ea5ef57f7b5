namespace HaClient.Telemetry;

/// <summary>The values of the <c>error.type</c> tag on <c>haclient.errors</c>: one name per event, the same for every
/// store, counted where the engine decides what the failure means.</summary>
public static class ErrorKinds
{
    /// <summary>A write failed after it was sent; it was not retried (<see cref="WriteOutcomeUnknownException"/>).</summary>
    public const string WriteOutcomeUnknown = "write_outcome_unknown";

    /// <summary>A node refused a write as read-only (it was demoted): nothing was written; the write was re-routed.</summary>
    public const string WriteRerouted = "write_rerouted";

    /// <summary>A transaction's connection failed before its commit was sent: it provably did not commit.</summary>
    public const string WriteNotCommitted = "write_not_committed";

    /// <summary>A transaction's connection failed after its commit was sent, and the primary showed that it committed:
    /// the caller got its result.</summary>
    public const string WriteResolvedCommitted = "write_resolved_committed";

    /// <summary>A transaction's connection failed after its commit was sent, and the primary showed that it did not
    /// commit.</summary>
    public const string WriteResolvedNotCommitted = "write_resolved_not_committed";

    /// <summary>A write that provably did not commit was run again on the primary (<c>WriteRetry.WhenNotCommitted</c>).</summary>
    public const string WriteRetried = "write_retried";

    /// <summary>A write failed before anything was sent (no connection, open failed): it was re-routed.</summary>
    public const string WriteNotSent = "write_not_sent";

    /// <summary>A write met an open circuit: nothing was sent; it was re-routed.</summary>
    public const string WriteCircuitOpen = "write_circuit_open";

    /// <summary>A read failed on one node with an endpoint failure and was retried on another.</summary>
    public const string ReadRetried = "read_retried";

    /// <summary>A read had not answered within <c>Resilience.HedgeReadsAfter</c> and was also sent to a second node.</summary>
    public const string ReadHedged = "read_hedged";

    /// <summary>A read on the degradation ladder was served by a replica beyond the lag bound (no fresh node, no
    /// primary).</summary>
    public const string ReadDegradedStale = "read_degraded_stale";

    /// <summary>A read on the degradation ladder was served from the application's cache (no node could serve it).</summary>
    public const string ReadDegradedCache = "read_degraded_cache";

    /// <summary>A read met an open circuit and was retried on another node.</summary>
    public const string ReadCircuitOpen = "read_circuit_open";

    /// <summary>A read failed on every node it was tried on (<see cref="ReadFailedException"/>).</summary>
    public const string ReadFailed = "read_failed";

    /// <summary>No eligible endpoint within the budget (<see cref="NoEligibleEndpointException"/>).</summary>
    public const string NoEligibleEndpoint = "no_eligible_endpoint";

    /// <summary>Opening a connection for the caller failed (<c>OpenWriteConnectionAsync</c>, <c>OpenReadConnectionAsync</c>).</summary>
    public const string OpenFailed = "open_failed";

    /// <summary>A call met overload: the caller's own deadline, or a server or pool with no room. Never counted against the
    /// endpoint.</summary>
    public const string Overload = "overload";

    /// <summary>A durable write was not confirmed by enough replicas in time.</summary>
    public const string ReplicationNotConfirmed = "replication_not_confirmed";

    /// <summary>Every kind above.</summary>
    public static IReadOnlyList<string> All { get; } =
    [
        WriteOutcomeUnknown, WriteNotCommitted, WriteResolvedCommitted, WriteResolvedNotCommitted, WriteRetried, WriteRerouted, WriteNotSent, WriteCircuitOpen, ReadRetried, ReadHedged, ReadDegradedStale, ReadDegradedCache, ReadCircuitOpen, ReadFailed,
        NoEligibleEndpoint, OpenFailed, Overload, ReplicationNotConfirmed,
    ];
}
