using System.Text.Json;
using HaClient.Redis;
using HaClient.Resilience;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace HaClient.AspNetCore.Health;

/// <summary>A Redis Cluster deployment's health, shard by shard, from its monitor's last probes: a shard without a
/// verified primary makes it unhealthy (its slots take no writes); a shard running without a replica (after a failover,
/// until its former primary rejoins), a node down, an open breaker or a stale probe make it degraded.</summary>
internal static class RedisClusterHealth
{
    private static readonly JsonEncodedText Shards = JsonEncodedText.Encode("shards");
    private static readonly JsonEncodedText Slots = JsonEncodedText.Encode("slots");
    private static readonly JsonEncodedText Replicas = JsonEncodedText.Encode("replicas");
    private static readonly JsonEncodedText Degraded = JsonEncodedText.Encode("degraded");

    public static ComponentStatus Evaluate(RedisTopology topology, HighAvailabilityHealthOptions options, DateTimeOffset now)
    {
        if (topology.Shards.Count == 0)
        {
            return new ComponentStatus(HealthStatus.Unhealthy, false, "no cluster shard is known yet (no seed answered CLUSTER SHARDS)", topology);
        }

        if (topology.Shards.Any(s => s.Primary is null))
        {
            return new ComponentStatus(HealthStatus.Unhealthy, false, "a shard has no verified primary (its slots take no writes)", topology);
        }

        string? issue = null;
        if (topology.Shards.Any(s => s.IsDegraded))
        {
            issue = "a shard runs without a replica (failed over, or its replica is down)";
        }

        foreach (var n in topology.Nodes)
        {
            if (n.Role == RedisNodeRole.Down)
            {
                issue ??= "a node is down";
            }
            else if (n.Role != RedisNodeRole.Unknown && now - n.ProbedAt > options.MaxProbeAge)
            {
                issue ??= "a node's last probe is stale";
            }

            if (n.Breaker != BreakerState.Closed)
            {
                issue ??= "a node's circuit breaker is not closed";
            }
        }

        return issue is null ? new ComponentStatus(HealthStatus.Healthy, true, null, topology) : new ComponentStatus(HealthStatus.Degraded, true, issue, topology);
    }

    /// <summary>The lag of node <paramref name="index"/> within its shard, or null.</summary>
    public static long? LagBytes(RedisTopology topology, int index)
    {
        var node = topology.Nodes[index];
        foreach (var s in topology.Shards)
        {
            if (s.Primary is { } p && ReferenceEquals(p, node))
            {
                return 0;
            }

            if (s.Replicas.Contains(node))
            {
                return s.GetLagBytes(node);
            }
        }

        return null;
    }

    /// <summary>Writes <c>"shards": [{"slots", "primary", "degraded", "replicas": [{"endpoint", "lagBytes"}]}]</c>.</summary>
    public static void WriteShards(Utf8JsonWriter writer, RedisTopology topology)
    {
        writer.WriteStartArray(Shards);
        foreach (var s in topology.Shards)
        {
            writer.WriteStartObject();
            writer.WriteString(Slots, s.Slots);
            writer.WriteString(HealthJson.Primary, s.Primary?.Endpoint.ToString());
            writer.WriteBoolean(Degraded, s.IsDegraded);
            writer.WriteStartArray(Replicas);
            foreach (var r in s.Replicas)
            {
                writer.WriteStartObject();
                writer.WriteString(HealthJson.Endpoint, r.Endpoint.ToString());
                if (s.GetLagBytes(r) is { } lag)
                {
                    writer.WriteNumber(HealthJson.LagBytes, lag);
                }
                else
                {
                    writer.WriteNull(HealthJson.LagBytes);
                }

                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
    }
}
