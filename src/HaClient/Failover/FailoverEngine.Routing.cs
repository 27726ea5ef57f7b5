using HaClient.Telemetry;

namespace HaClient.Failover;

/// <summary>The engine's routing-decision count (<c>haclient.routing.decisions</c>), with its tags pre-built so that
/// counting allocates nothing.</summary>
public sealed partial class FailoverEngine<TEndpoint, TReadIntent>
{
    private static readonly KeyValuePair<string, object?> PrimaryTag = new("haclient.target_role", "primary");
    private static readonly KeyValuePair<string, object?> ReplicaTag = new("haclient.target_role", "replica");
    private static readonly KeyValuePair<string, object?> ZoneLocalTag = new("haclient.zone_local", true);
    private static readonly KeyValuePair<string, object?> ZoneRemoteTag = new("haclient.zone_local", false);

    /// <summary>Counts the routing decision of a call to <paramref name="endpoint"/> and returns the role it went to,
    /// as the decision saw it (the operation's <c>haclient.target_role</c>). A read is also tagged
    /// <c>haclient.zone_local</c> when the store has a local zone.</summary>
    private string Route(TEndpoint endpoint, bool read)
    {
        var primary = _topology.IsPrimary(endpoint);
        if (!HaClientTelemetry.RoutingDecisions.Enabled)
        {
            return primary ? "primary" : "replica";
        }

        var roleTag = primary ? PrimaryTag : ReplicaTag;
        if (read && _topology.IsInLocalZone(endpoint) is { } local)
        {
            HaClientTelemetry.RoutingDecisions.Add(1, _clusterTag, roleTag, local ? ZoneLocalTag : ZoneRemoteTag);
        }
        else
        {
            HaClientTelemetry.RoutingDecisions.Add(1, _clusterTag, roleTag);
        }

        return primary ? "primary" : "replica";
    }
}
