using HaClient.Resilience;
using System.Text.Json;
using HaClient.Postgres;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;
using Polly.CircuitBreaker;

namespace HaClient.AspNetCore.Health;

/// <summary>A <see cref="PostgresCluster"/>'s health from its topology monitor's last probes.</summary>
internal sealed class PostgresComponentHealth : ComponentHealth
{
    private static readonly JsonEncodedText KindText = JsonEncodedText.Encode("postgres");
    private static readonly JsonEncodedText[] RoleTexts =
    [
        JsonEncodedText.Encode("unknown"), JsonEncodedText.Encode("primary"), JsonEncodedText.Encode("replica"), JsonEncodedText.Encode("down"),
    ];

    private readonly PostgresCluster _cluster;
    private readonly JsonEncodedText _name;
    private readonly JsonEncodedText[] _endpoints;

    public PostgresComponentHealth(PostgresCluster cluster)
        : base(cluster.Name)
    {
        _cluster = cluster;
        _name = JsonEncodedText.Encode(cluster.Name);

        // The host list is fixed at creation (in configuration order): encode each endpoint once.
        _endpoints = cluster.Topology.Hosts.Select(h => JsonEncodedText.Encode(h.Endpoint.ToString())).ToArray();
    }

    public override string Kind => "postgres";

    public override ComponentStatus Evaluate(HighAvailabilityHealthOptions options, DateTimeOffset now)
    {
        var topology = _cluster.Topology;
        var hosts = topology.Hosts;
        var reachable = 0;
        string? issue = null;
        for (var i = 0; i < hosts.Count; i++)
        {
            var h = hosts[i];
            switch (h.Role)
            {
                case PostgresRole.Primary or PostgresRole.Replica:
                    reachable++;
                    if (now - h.ProbedAt > options.MaxProbeAge)
                    {
                        issue ??= "a host's last probe is stale";
                    }
                    else if (h.Role == PostgresRole.Replica && options.MaxReplicaLagSeconds is { } max && h.ReplayLagSeconds > max)
                    {
                        issue ??= "a replica lags beyond the bound";
                    }

                    break;
                case PostgresRole.Down:
                    issue ??= "a host is down";
                    break;
                default:
                    issue ??= "a host has not been probed yet";
                    break;
            }

            if (hosts[i].Breaker != BreakerState.Closed)
            {
                issue ??= "a host's circuit breaker is not closed";
            }
        }

        if (reachable == 0)
        {
            return new ComponentStatus(HealthStatus.Unhealthy, false, issue ?? "no host is reachable", topology);
        }

        if (topology.SplitBrain && topology.PrimaryIndex < 0)
        {
            return new ComponentStatus(HealthStatus.Degraded, false, "split brain: no primary can be chosen", topology);
        }

        if (topology.PrimaryIndex < 0)
        {
            return new ComponentStatus(HealthStatus.Degraded, false, "no primary is known (reads only)", topology);
        }

        if (topology.SplitBrain)
        {
            return new ComponentStatus(HealthStatus.Degraded, true, "split brain: writes go to the highest timeline", topology);
        }

        return issue is null ? new ComponentStatus(HealthStatus.Healthy, true, null, topology) : new ComponentStatus(HealthStatus.Degraded, true, issue, topology);
    }

    public override void Write(Utf8JsonWriter writer, ComponentStatus status, DateTimeOffset now)
    {
        var topology = status.Snapshot as PostgresTopology ?? _cluster.Topology;
        writer.WriteStartObject();
        writer.WriteString(HealthJson.Kind, KindText);
        writer.WriteString(HealthJson.Name, _name);
        writer.WriteString(HealthJson.Status, HealthJson.StatusText(status.Status));
        writer.WriteBoolean(HealthJson.Ready, status.Ready);
        writer.WriteString(HealthJson.Reason, status.Reason);
        if (topology.PrimaryIndex >= 0)
        {
            writer.WriteString(HealthJson.Primary, EndpointText(topology.PrimaryIndex, topology.Hosts[topology.PrimaryIndex]));
        }
        else
        {
            writer.WriteNull(HealthJson.Primary);
        }

        writer.WriteBoolean(HealthJson.SplitBrain, topology.SplitBrain);
        writer.WriteNumber(HealthJson.TopologyVersion, topology.Version);
        writer.WriteStartArray(HealthJson.Hosts);
        for (var i = 0; i < topology.Hosts.Count; i++)
        {
            var h = topology.Hosts[i];
            writer.WriteStartObject();
            writer.WriteString(HealthJson.Endpoint, EndpointText(i, h));
            writer.WriteString(HealthJson.Role, RoleTexts[(int)h.Role]);
            writer.WriteString(HealthJson.Zone, h.Zone);
            writer.WriteNumber(HealthJson.Timeline, h.Timeline);
            if (h.ReplayLagSeconds is { } lag)
            {
                writer.WriteNumber(HealthJson.LagSeconds, Math.Round(lag, 3));
            }
            else
            {
                writer.WriteNull(HealthJson.LagSeconds);
            }

            writer.WriteString(HealthJson.Breaker, HealthJson.BreakerText(h.Breaker));
            var pool = _cluster.GetPoolUse(i);
            writer.WriteNumber(HealthJson.InFlight, pool.InFlight);
            writer.WriteNumber(HealthJson.MaxConnections, pool.MaxConnections);
            HealthJson.WriteProbe(writer, h.Role != PostgresRole.Unknown, h.ProbedAt, h.ProbeDuration, now);
            if (h.ResponseTime is { } response)
            {
                writer.WriteNumber(HealthJson.ResponseMs, Math.Round(response.TotalMilliseconds, 3));
            }
            else
            {
                writer.WriteNull(HealthJson.ResponseMs);
            }

            writer.WriteString(HealthJson.Error, h.Error);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    private JsonEncodedText EndpointText(int index, PostgresHostState host)
        => index < _endpoints.Length ? _endpoints[index] : JsonEncodedText.Encode(host.Endpoint.ToString());
}
