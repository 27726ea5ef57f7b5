using Polly.CircuitBreaker;

namespace HaClient.Redis;

/// <summary>A snapshot of the deployment as the monitor sees it. Never holds credentials.</summary>
/// <param name="Master">The master writes go to (host:port), or <see langword="null"/> while none is verified.</param>
/// <param name="Nodes">Every known node.</param>
public sealed record RedisTopology(string? Master, IReadOnlyList<RedisNodeStatus> Nodes);

/// <summary>One node in a <see cref="RedisTopology"/>.</summary>
/// <param name="Endpoint">host:port.</param>
/// <param name="Role">The role last probed.</param>
/// <param name="LagBytes">Replication offset behind the master (replicas), when known.</param>
/// <param name="Breaker">The node's circuit state.</param>
public sealed record RedisNodeStatus(string Endpoint, RedisNodeRole Role, long? LagBytes, CircuitState Breaker);

/// <summary>Where a read may go.</summary>
public enum RedisReadPreference
{
    /// <summary>A replica within <see cref="RedisOptions.MaxLagBytes"/>; the master when none qualifies (if
    /// <see cref="RedisOptions.FallbackToMaster"/>).</summary>
    ReplicaPreferred,

    /// <summary>Only the master (read-your-writes).</summary>
    Master,

    /// <summary>The master while it is available; during a failover window (no master verified, or its circuit open)
    /// a replica within <see cref="RedisOptions.MaxLagBytes"/> of the last known master offset, without waiting.</summary>
    MasterPreferred,
}
