using System.Text.Json;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace HaClient.AspNetCore.Health;

/// <summary>The health of one configured component (a PostgreSQL cluster, a Redis deployment), judged only from its
/// monitor's cached state: evaluating it never opens a connection.</summary>
internal abstract class ComponentHealth
{
    protected ComponentHealth(string name) => Name = name;

    /// <summary>The configured name.</summary>
    public string Name { get; }

    /// <summary><c>postgres</c> or <c>redis</c>.</summary>
    public abstract string Kind { get; }

    /// <summary>Healthy, degraded (serves, with something missing) or unhealthy (cannot serve); and whether it can serve
    /// everything the application needs now (a primary / master is known).</summary>
    public abstract ComponentStatus Evaluate(HighAvailabilityHealthOptions options, DateTimeOffset now);

    /// <summary>Writes the component's JSON object (status, reason, per host details).</summary>
    public abstract void Write(Utf8JsonWriter writer, ComponentStatus status, DateTimeOffset now);
}

/// <summary>The result of <see cref="ComponentHealth.Evaluate"/>.</summary>
/// <param name="Status">The status.</param>
/// <param name="Ready">Whether it can serve everything (writes included).</param>
/// <param name="Reason">Why it is not healthy (a constant string), or <see langword="null"/>.</param>
/// <param name="Snapshot">The immutable topology the status was judged from, so the JSON shows the same state.</param>
internal readonly record struct ComponentStatus(HealthStatus Status, bool Ready, string? Reason, object? Snapshot = null);
