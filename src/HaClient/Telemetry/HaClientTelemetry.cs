using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace HaClient.Telemetry;

/// <summary>
/// The names and instruments HaClient publishes. Listen with OpenTelemetry (<c>AddMeter("HaClient")</c>,
/// <c>AddSource("HaClient")</c>) or any <see cref="MeterListener"/>/<see cref="ActivityListener"/>.
/// </summary>
public static class HaClientTelemetry
{
    /// <summary>The name of the <see cref="System.Diagnostics.Metrics.Meter"/> and <see cref="System.Diagnostics.ActivitySource"/>.</summary>
    public const string Name = "HaClient";

    private static readonly ConcurrentDictionary<IEndpointStateSource, byte> Sources = new();

    /// <summary>The activity source of <c>haclient.failover</c> spans (for stores built on HaClient).</summary>
    public static ActivitySource ActivitySource { get; } = new(Name, typeof(HaClientTelemetry).Assembly.GetName().Version?.ToString());

    internal static readonly Meter Meter = new(Name, typeof(HaClientTelemetry).Assembly.GetName().Version?.ToString());

    /// <summary><c>haclient.routing.decisions</c> {decision}: tags <c>haclient.cluster</c>, <c>haclient.target_role</c> (primary, replica).</summary>
    public static Counter<long> RoutingDecisions { get; } = Meter.CreateCounter<long>("haclient.routing.decisions", "{decision}", "Requests routed, by the role of the node chosen.");

    /// <summary><c>haclient.role_changes</c>: tags cluster, endpoint, role.</summary>
    public static Counter<long> RoleChanges { get; } = Meter.CreateCounter<long>("haclient.role_changes", "{change}", "Role changes observed by the topology monitors.");

    /// <summary><c>haclient.failovers</c>: tags cluster.</summary>
    public static Counter<long> Failovers { get; } = Meter.CreateCounter<long>("haclient.failovers", "{failover}", "Failovers followed: a new primary/master was adopted.");

    /// <summary><c>haclient.failover.duration</c> in seconds: from losing the primary to adopting the new one.</summary>
    public static Histogram<double> FailoverDuration { get; } = Meter.CreateHistogram<double>("haclient.failover.duration", "s", "Time from losing the primary to adopting the new one.");

    /// <summary><c>haclient.breaker.transitions</c>: tags cluster, endpoint, state.</summary>
    public static Counter<long> BreakerTransitions { get; } = Meter.CreateCounter<long>("haclient.breaker.transitions", "{transition}", "Circuit breaker state transitions per endpoint.");

    /// <summary><c>haclient.errors</c>: tags cluster, error.type.</summary>
    public static Counter<long> Errors { get; } = Meter.CreateCounter<long>("haclient.errors", "{error}", "Operation errors, by kind.");

    /// <summary><c>haclient.session.operations</c>: tags operation, outcome.</summary>
    public static Counter<long> SessionOperations { get; } = Meter.CreateCounter<long>("haclient.session.operations", "{operation}", "Distributed session store operations, by outcome.");

    /// <summary>The name of the span a store emits when it adopts a new primary after losing another one.</summary>
    public const string FailoverActivityName = "haclient.failover";

    /// <summary>
    /// Records a failover a store followed: a <see cref="FailoverActivityName"/> span tagged <c>haclient.cluster</c> and
    /// <c>haclient.endpoint</c> (the new primary), <see cref="Failovers"/> and <see cref="FailoverDuration"/>. Call it only
    /// when another node than the last primary is adopted, never for the first primary found at start-up.
    /// </summary>
    /// <param name="cluster">The component's logical name.</param>
    /// <param name="endpoint">The new primary (host:port).</param>
    /// <param name="took">From losing the old primary to adopting the new one.</param>
    public static void RecordFailover(string cluster, string endpoint, TimeSpan took)
    {
        using (var activity = ActivitySource.StartActivity(FailoverActivityName))
        {
            activity?.SetTag("haclient.cluster", cluster);
            activity?.SetTag("haclient.endpoint", endpoint);
        }

        var tag = new KeyValuePair<string, object?>("haclient.cluster", cluster);
        Failovers.Add(1, tag);
        FailoverDuration.Record(took.TotalSeconds, tag);
    }

    static HaClientTelemetry()
    {
        Meter.CreateObservableGauge("haclient.replica.lag", ObserveLag, "s", "Replica replay lag per endpoint, as last probed.");
        Meter.CreateObservableGauge("haclient.breaker.state", ObserveBreakers, "{state}", "Circuit breaker state per endpoint: 0 closed, 1 half-open, 2 open, 3 isolated.");
        Meter.CreateObservableGauge("haclient.pool.in_flight", ObserveInFlight, "{call}", "Calls in flight per endpoint (its pool's connections in use or awaited).");
        Meter.CreateObservableGauge("haclient.pool.limit", ObserveLimits, "{connection}", "The most connections HaClient opens per endpoint (MaxConnectionsPerHost).");
    }

    /// <summary>Lets the gauges observe <paramref name="source"/> (a store calls this when it starts).</summary>
    public static void Register(IEndpointStateSource source) => Sources.TryAdd(source, 0);

    /// <summary>Stops observing <paramref name="source"/> (a store calls this when it is disposed).</summary>
    public static void Unregister(IEndpointStateSource source) => Sources.TryRemove(source, out _);

    private static IEnumerable<Measurement<double>> ObserveLag()
    {
        foreach (var source in Sources.Keys)
        {
            foreach (var e in source.GetEndpointStates())
            {
                if (e.LagSeconds is { } lag)
                {
                    yield return new Measurement<double>(lag, new("haclient.cluster", source.ClusterName), new("haclient.endpoint", e.Endpoint));
                }
            }
        }
    }

    private static IEnumerable<Measurement<int>> ObserveInFlight() => ObservePools(static e => e.InFlight);

    private static IEnumerable<Measurement<int>> ObserveLimits() => ObservePools(static e => e.ConnectionLimit);

    private static IEnumerable<Measurement<int>> ObservePools(Func<EndpointSnapshot, int> value)
    {
        foreach (var source in Sources.Keys)
        {
            foreach (var e in source.GetEndpointStates())
            {
                if (e.ConnectionLimit > 0)
                {
                    yield return new Measurement<int>(value(e), new("haclient.cluster", source.ClusterName), new("haclient.endpoint", e.Endpoint));
                }
            }
        }
    }

    private static IEnumerable<Measurement<int>> ObserveBreakers()
    {
        foreach (var source in Sources.Keys)
        {
            foreach (var e in source.GetEndpointStates())
            {
                yield return new Measurement<int>((int)e.Breaker, new("haclient.cluster", source.ClusterName), new("haclient.endpoint", e.Endpoint));
            }
        }
    }
}

/// <summary>A snapshot of one endpoint for telemetry and health output. Never holds credentials.</summary>
/// <param name="Endpoint">host:port.</param>
/// <param name="Role">The role as last probed (primary, replica, master, down, unknown).</param>
/// <param name="LagSeconds">Replication lag, when the endpoint is a replica.</param>
/// <param name="Breaker">The endpoint's circuit state.</param>
/// <param name="InFlight">Calls in flight on the endpoint (connections in use or awaited); 0 where not tracked.</param>
/// <param name="ConnectionLimit">The most connections HaClient opens to it; 0 where it has no pool (Redis multiplexes).</param>
public readonly record struct EndpointSnapshot(string Endpoint, string Role, double? LagSeconds, Polly.CircuitBreaker.CircuitState Breaker, int InFlight = 0, int ConnectionLimit = 0);

/// <summary>A component (a Postgres cluster, a Redis deployment) whose endpoints are observed by the gauges.</summary>
public interface IEndpointStateSource
{
    /// <summary>The component's logical name.</summary>
    string ClusterName { get; }

    /// <summary>Every endpoint as last observed.</summary>
    IReadOnlyList<EndpointSnapshot> GetEndpointStates();
}
