namespace HaClient.Redis;

/// <summary>The role of a Redis node, as last probed with <c>ROLE</c>.</summary>
public enum RedisNodeRole
{
    /// <summary>Not probed yet.</summary>
    Unknown,

    /// <summary>The node answered <c>master</c>: it takes writes.</summary>
    Primary,

    /// <summary>The node answered <c>slave</c>.</summary>
    Replica,

    /// <summary>The last probe failed or timed out.</summary>
    Down,
}

/// <summary>What the monitor knows of one node: an immutable snapshot taken by one <c>ROLE</c> probe. Never holds
/// credentials.</summary>
public sealed class RedisNodeState
{
    internal RedisNodeState(HostEndpoint endpoint, RedisNodeRole role, long offset, HostEndpoint? replicaOf, string? linkState, long probedAtTimestamp, DateTimeOffset probedAt, TimeSpan probeDuration, string? error)
    {
        Endpoint = endpoint;
        Role = role;
        ReplicationOffset = offset;
        ReplicaOf = replicaOf;
        LinkState = linkState;
        ProbedAtTimestamp = probedAtTimestamp;
        ProbedAt = probedAt;
        ProbeDuration = probeDuration;
        Error = error;
    }

    /// <summary>The node.</summary>
    public HostEndpoint Endpoint { get; }

    /// <summary>Its role.</summary>
    public RedisNodeRole Role { get; }

    /// <summary>The replication offset (bytes): the primary's own offset, or what a replica has processed; -1 when
    /// unknown (a replica whose link to its primary is not up yet).</summary>
    public long ReplicationOffset { get; }

    /// <summary>For a replica: the primary it replicates from.</summary>
    public HostEndpoint? ReplicaOf { get; }

    /// <summary>For a replica: its link state as <c>ROLE</c> reports it (<c>connected</c>, <c>sync</c>, ...).</summary>
    public string? LinkState { get; }

    /// <summary>When the probe completed (wall clock of the deployment's <see cref="TimeProvider"/>); default before
    /// the first probe.</summary>
    public DateTimeOffset ProbedAt { get; }

    /// <summary>How long the probe took.</summary>
    public TimeSpan ProbeDuration { get; }

    /// <summary>Why the last probe failed (the exception type; never credentials).</summary>
    public string? Error { get; }

    /// <summary>The probe's timestamp on the deployment's <see cref="TimeProvider"/>.</summary>
    internal long ProbedAtTimestamp { get; }

    /// <summary>For a primary seen as a replica of this endpoint in the probe just before (promoted in place, with no
    /// restart in between).</summary>
    internal HostEndpoint? PromotedFrom { get; init; }

    /// <summary>The node's replication history (ID and offset from one <c>INFO replication</c> answer) as last probed:
    /// what read-your-writes tokens are checked against. Kept through a Down probe (the IDs stay known).</summary>
    internal ReplicationInfo History { get; init; } = ReplicationInfo.Unknown;

    /// <summary>For a primary: the replicas its <c>ROLE</c> lists.</summary>
    internal IReadOnlyList<HostEndpoint> Replicas { get; init; } = [];

    /// <summary>The node, its role, offset, what it replicates from and the probe's error, for diagnostics (never
    /// credentials).</summary>
    public override string ToString()
        => $"{Endpoint} {Role} offset={ReplicationOffset}{(ReplicaOf is { } of ? $" of {of} ({LinkState})" : "")}{(Error is null ? "" : $" error={Error}")}";

    /// <summary>The node's circuit breaker as it is now: read live from the breaker, which changes between probes (not
    /// fixed at publication like the rest).</summary>
    public HaClient.Resilience.BreakerState Breaker => Circuit?.State ?? HaClient.Resilience.BreakerState.Closed;

    /// <summary>The node's breaker, attached by the monitor when the state is stored.</summary>
    internal HaClient.Resilience.EndpointCircuit? Circuit { get; set; }

    /// <summary>The node, attached with <see cref="Circuit"/>.</summary>
    internal RedisNode? Node { get; set; }

    /// <summary>The node's zone (<see cref="RedisOptions.Zones"/>), or <see langword="null"/> when it is in none.</summary>
    public string? Zone => Node?.Zone;

    /// <summary>The node's recent <c>ROLE</c> round trip as it is now, smoothed; <see langword="null"/> before the first.</summary>
    public TimeSpan? ResponseTime => Node is { } n ? HaClient.Routing.ResponseTime.Read(ref n.ResponseTicks) : null;

    internal static RedisNodeState Initial(HostEndpoint endpoint) => new(endpoint, RedisNodeRole.Unknown, -1, null, null, 0, default, TimeSpan.Zero, null);
}
