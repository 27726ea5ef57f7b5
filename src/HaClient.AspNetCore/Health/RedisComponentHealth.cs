using HaClient.Resilience;
using System.Text.Json;
using HaClient.Redis;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace HaClient.AspNetCore.Health;

/// <summary>A <see cref="RedisDeployment"/>'s health from its monitor's last probes.</summary>
internal sealed class RedisComponentHealth : ComponentHealth
{
    private static readonly JsonEncodedText KindText = JsonEncodedText.Encode("redis");
    private static readonly JsonEncodedText[] RoleTexts =
    [
        JsonEncodedText.Encode("unknown"), JsonEncodedText.Encode("primary"), JsonEncodedText.Encode("replica"), JsonEncodedText.Encode("down"),
    ];

    private readonly RedisDeployment _deployment;

    public RedisComponentHealth(RedisDeployment deployment)
        : base(deployment.Name) => _deployment = deployment;

    public override string Kind => "redis";

    public override ComponentStatus Evaluate(HighAvailabilityHealthOptions options, DateTimeOffset now)
    {
        var topology = _deployment.Topology;
        if (_deployment.Options.Cluster)
        {
            return RedisClusterHealth.Evaluate(topology, options, now);
        }

        var reachable = 0;
        var primaries = 0;
        string? issue = null;
        for (var i = 0; i < topology.Nodes.Count; i++)
        {
            var n = topology.Nodes[i];
            switch (n.Role)
            {
                case RedisNodeRole.Primary or RedisNodeRole.Replica:
                    reachable++;
                    primaries += n.Role == RedisNodeRole.Primary ? 1 : 0;
                    if (now - n.ProbedAt > options.MaxProbeAge)
                    {
                        issue ??= "a node's last probe is stale";
                    }

                    break;
                case RedisNodeRole.Down:
                    issue ??= "a node is down";
                    break;
                default:
                    issue ??= "a node has not been probed yet";
                    break;
            }

            if (topology.Nodes[i].Breaker != BreakerState.Closed)
            {
                issue ??= "a node's circuit breaker is not closed";
            }
        }

        if (reachable == 0)
        {
            return new ComponentStatus(HealthStatus.Unhealthy, false, issue ?? "no node is reachable", topology);
        }

        if (topology.PrimaryIndex < 0)
        {
            return new ComponentStatus(HealthStatus.Degraded, false, "no primary is verified (reads only)", topology);
        }

        if (primaries > 1)
        {
            issue = "more than one node reports primary (a failover is converging)";
        }

        return issue is null ? new ComponentStatus(HealthStatus.Healthy, true, null, topology) : new ComponentStatus(HealthStatus.Degraded, true, issue, topology);
    }

    public override void Write(Utf8JsonWriter writer, ComponentStatus status, DateTimeOffset now)
    {
        var topology = status.Snapshot as RedisTopology ?? _deployment.Topology;
        writer.WriteStartObject();
        writer.WriteString(HealthJson.Kind, KindText);
        writer.WriteString(HealthJson.Name, Name);
        writer.WriteString(HealthJson.Status, HealthJson.StatusText(status.Status));
        writer.WriteBoolean(HealthJson.Ready, status.Ready);
        writer.WriteString(HealthJson.Reason, status.Reason);
        writer.WriteString(HealthJson.Primary, topology.Primary?.Endpoint.ToString());
        writer.WriteNumber(HealthJson.TopologyVersion, topology.Version);
        writer.WriteStartArray(HealthJson.Hosts);
        for (var i = 0; i < topology.Nodes.Count; i++)
        {
            var n = topology.Nodes[i];
            writer.WriteStartObject();
            writer.WriteString(HealthJson.Endpoint, n.Endpoint.ToString());
            writer.WriteString(HealthJson.Role, RoleTexts[Math.Clamp((int)n.Role, 0, RoleTexts.Length - 1)]);
            writer.WriteString(HealthJson.Zone, n.Zone);
            if ((topology.Shards.Count > 0 ? RedisClusterHealth.LagBytes(topology, i) : topology.GetLagBytes(i)) is { } lag)
            {
                writer.WriteNumber(HealthJson.LagBytes, lag);
            }
            else
            {
                writer.WriteNull(HealthJson.LagBytes);
            }

            writer.WriteString(HealthJson.Breaker, HealthJson.BreakerText(topology.Nodes[i].Breaker));
            HealthJson.WriteProbe(writer, n.Role != RedisNodeRole.Unknown, n.ProbedAt, n.ProbeDuration, now);

            writer.WriteString(HealthJson.Error, n.Error);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        if (topology.Shards.Count > 0)
        {
            RedisClusterHealth.WriteShards(writer, topology);
        }

        writer.WriteEndObject();
    }
}
