using HaClient.Resilience;

namespace HaClient.Postgres;

/// <summary>
/// The host a read was routed to by <see cref="PostgresCluster.RouteReadAsync"/>, and the operation budget its open runs
/// within (<see cref="PostgresCluster.OpenRouteAsync"/>). For a caller that runs the read itself (EF Core's integration),
/// knows which host it tried, and retries once on another when the open or the read fails there.
/// </summary>
public readonly struct ReadRoute
{
    internal ReadRoute(HostSlot slot, OperationDeadline deadline)
    {
        Slot = slot;
        Deadline = deadline;
    }

    /// <summary>The host.</summary>
    public HostEndpoint Host => Slot?.Endpoint ?? throw new InvalidOperationException("The route is empty: take one from PostgresCluster.RouteReadAsync.");

    /// <summary>The host's index in <see cref="PostgresTopology.Hosts"/> (what <see cref="PostgresCluster.RouteReadAsync"/>
    /// takes to exclude it); -1 for an empty route.</summary>
    public int Index => Slot?.Index ?? -1;

    internal HostSlot? Slot { get; }

    internal OperationDeadline Deadline { get; }
}
