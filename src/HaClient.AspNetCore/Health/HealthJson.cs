using HaClient.Resilience;
using System.Text.Json;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Polly.CircuitBreaker;

namespace HaClient.AspNetCore.Health;

/// <summary>Pre-encoded property names and values of the health JSON, so writing it allocates little.</summary>
internal static class HealthJson
{
    public static readonly JsonEncodedText Status = JsonEncodedText.Encode("status");
    public static readonly JsonEncodedText Components = JsonEncodedText.Encode("components");
    public static readonly JsonEncodedText Kind = JsonEncodedText.Encode("kind");
    public static readonly JsonEncodedText Name = JsonEncodedText.Encode("name");
    public static readonly JsonEncodedText Ready = JsonEncodedText.Encode("ready");
    public static readonly JsonEncodedText Reason = JsonEncodedText.Encode("reason");
    public static readonly JsonEncodedText Primary = JsonEncodedText.Encode("primary");
    public static readonly JsonEncodedText SplitBrain = JsonEncodedText.Encode("splitBrain");
    public static readonly JsonEncodedText TopologyVersion = JsonEncodedText.Encode("topologyVersion");
    public static readonly JsonEncodedText Hosts = JsonEncodedText.Encode("hosts");
    public static readonly JsonEncodedText Endpoint = JsonEncodedText.Encode("endpoint");
    public static readonly JsonEncodedText Role = JsonEncodedText.Encode("role");
    public static readonly JsonEncodedText Timeline = JsonEncodedText.Encode("timeline");
    public static readonly JsonEncodedText LagSeconds = JsonEncodedText.Encode("lagSeconds");
    public static readonly JsonEncodedText LagBytes = JsonEncodedText.Encode("lagBytes");
    public static readonly JsonEncodedText Breaker = JsonEncodedText.Encode("breaker");
    public static readonly JsonEncodedText ProbeAgeMs = JsonEncodedText.Encode("probeAgeMs");
    public static readonly JsonEncodedText ProbeMs = JsonEncodedText.Encode("probeMs");
    public static readonly JsonEncodedText InFlight = JsonEncodedText.Encode("inFlight");
    public static readonly JsonEncodedText MaxConnections = JsonEncodedText.Encode("maxConnections");
    public static readonly JsonEncodedText Error = JsonEncodedText.Encode("error");
    public static readonly JsonEncodedText Zone = JsonEncodedText.Encode("zone");
    public static readonly JsonEncodedText ResponseMs = JsonEncodedText.Encode("responseMs");
    public static readonly JsonEncodedText Time = JsonEncodedText.Encode("time");

    private static readonly JsonEncodedText HealthyText = JsonEncodedText.Encode("Healthy");
    private static readonly JsonEncodedText DegradedText = JsonEncodedText.Encode("Degraded");
    private static readonly JsonEncodedText UnhealthyText = JsonEncodedText.Encode("Unhealthy");
    private static readonly JsonEncodedText Closed = JsonEncodedText.Encode("closed");
    private static readonly JsonEncodedText Open = JsonEncodedText.Encode("open");
    private static readonly JsonEncodedText HalfOpen = JsonEncodedText.Encode("half_open");
    private static readonly JsonEncodedText Isolated = JsonEncodedText.Encode("isolated");

    public static JsonEncodedText StatusText(HealthStatus status) => status switch
    {
        HealthStatus.Healthy => HealthyText,
        HealthStatus.Degraded => DegradedText,
        _ => UnhealthyText,
    };

    public static JsonEncodedText BreakerText(BreakerState state) => state switch
    {
        BreakerState.Closed => Closed,
        BreakerState.Open => Open,
        BreakerState.HalfOpen => HalfOpen,
        _ => Isolated,
    };

    /// <summary>Writes <c>probeAgeMs</c> and <c>probeMs</c> of an endpoint's last probe (both null before the first).</summary>
    public static void WriteProbe(Utf8JsonWriter writer, bool probed, DateTimeOffset probedAt, TimeSpan duration, DateTimeOffset now)
    {
        if (!probed)
        {
            writer.WriteNull(ProbeAgeMs);
            writer.WriteNull(ProbeMs);
            return;
        }

        writer.WriteNumber(ProbeAgeMs, (long)Math.Max(0, (now - probedAt).TotalMilliseconds));
        writer.WriteNumber(ProbeMs, Math.Round(duration.TotalMilliseconds, 1));
    }

    public static HealthStatus Worst(HealthStatus a, HealthStatus b) => a < b ? a : b;
}
