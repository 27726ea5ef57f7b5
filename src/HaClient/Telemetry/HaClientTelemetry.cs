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

    // The bucket lists come before the instruments whose advice they are (static initializers run in textual order).
    /// <summary>The buckets of <c>haclient.failover.duration</c> (seconds): 1 ms to 50 ms, then every 50 ms up to 2 s
    /// (a client following a crash or a promotion), every 250-500 ms up to 5 s and coarser up to 30 s (Patroni's leader
    /// key expiry, a Sentinel vote).</summary>
    public static IReadOnlyList<double> FailoverDurationBuckets { get; } =
        [0.001, 0.0025, 0.005, 0.01, 0.025, .. Enumerable.Range(1, 40).Select(i => Math.Round(i * 0.05, 2)), 2.25, 2.5, 2.75, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 12.5, 15, 17.5, 20, 25, 30];

    /// <summary>The buckets of <c>haclient.operation.duration</c> (seconds): 1 ms to 30 s, finer below 100 ms where calls
    /// on a healthy cluster land.</summary>
    public static IReadOnlyList<double> OperationDurationBuckets { get; } =
        [0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30];

    /// <summary><c>haclient.routing.decisions</c> {decision}: tags <c>haclient.cluster</c>, <c>haclient.target_role</c> (primary, replica) and, on reads of a component with a local zone, <c>haclient.zone_local</c> (true, false).</summary>
    public static Counter<long> RoutingDecisions { get; } = Meter.CreateCounter<long>("haclient.routing.decisions", "{decision}", "Requests routed, by the role of the node chosen.");

    /// <summary><c>haclient.role_changes</c>: tags cluster, endpoint, role.</summary>
    public static Counter<long> RoleChanges { get; } = Meter.CreateCounter<long>("haclient.role_changes", "{change}", "Role changes observed by the topology monitors.");

    /// <summary><c>haclient.failovers</c>: tags cluster.</summary>
    public static Counter<long> Failovers { get; } = Meter.CreateCounter<long>("haclient.failovers", "{failover}", "Failovers followed: a new primary/master was adopted.");

    /// <summary><c>haclient.failover.duration</c> in seconds: from losing the primary to adopting the new one. Buckets
    /// <see cref="FailoverDurationBuckets"/>.</summary>
    public static Histogram<double> FailoverDuration { get; } = Meter.CreateHistogram("haclient.failover.duration", "s", "Time from losing the primary to adopting the new one.", tags: null,
        new InstrumentAdvice<double> { HistogramBucketBoundaries = FailoverDurationBuckets });

    /// <summary><c>haclient.operations</c> {operation}: every operation the failover engine ran, counted once when it
    /// ends; tags <c>haclient.cluster</c>, <c>db.system.name</c> (postgresql, redis), <c>haclient.operation</c> (read,
    /// write), <c>haclient.target_role</c> (primary, replica; none when no endpoint was found) and
    /// <c>haclient.outcome</c> (<see cref="Outcomes"/>).</summary>
    public static Counter<long> Operations { get; } = Meter.CreateCounter<long>("haclient.operations", "{operation}", "Operations run by the failover engine, by store, kind, target role and outcome.");

    /// <summary><c>haclient.operation.duration</c> in seconds: one operation as its caller saw it, waits for an endpoint
    /// and a re-route included; the tags of <see cref="Operations"/>. Buckets <see cref="OperationDurationBuckets"/>.</summary>
    public static Histogram<double> OperationDuration { get; } = Meter.CreateHistogram("haclient.operation.duration", "s", "Duration of operations run by the failover engine, waits and re-routes included.", tags: null,
        new InstrumentAdvice<double> { HistogramBucketBoundaries = OperationDurationBuckets });

    /// <summary><c>haclient.breaker.transitions</c>: tags cluster, endpoint, state.</summary>
    public static Counter<long> BreakerTransitions { get; } = Meter.CreateCounter<long>("haclient.breaker.transitions", "{transition}", "Circuit breaker state transitions per endpoint.");

    /// <summary><c>haclient.errors</c>: tags cluster, error.type.</summary>
    public static Counter<long> Errors { get; } = Meter.CreateCounter<long>("haclient.errors", "{error}", "Operation errors, by kind.");

    /// <summary><c>haclient.session.operations</c>: tags operation, outcome.</summary>
    public static Counter<long> SessionOperations { get; } = Meter.CreateCounter<long>("haclient.session.operations", "{operation}", "Distributed session store operations, by outcome.");

    /// <summary>The name of the span a store emits when it adopts a new primary after losing another one.</summary>
    public const string FailoverActivityName = "haclient.failover";

    /// <summary>
    /// Records a failover a store followed: <see cref="Failovers"/>, <see cref="FailoverDuration"/> and a
    /// <see cref="FailoverActivityName"/> span tagged <c>haclient.cluster</c> and <c>haclient.endpoint</c> (the new
    /// primary) that starts when the old primary was lost and ends now. Call it only when another node than the last
    /// primary is adopted, never for the first primary found at start-up.
    /// </summary>
    /// <param name="cluster">The component's logical name.</param>
    /// <param name="endpoint">The new primary (host:port).</param>
    /// <param name="took">From losing the old primary to adopting the new one.</param>
    public static void RecordFailover(string cluster, string endpoint, TimeSpan took)
    {
        var tag = new KeyValuePair<string, object?>("haclient.cluster", cluster);
        Failovers.Add(1, tag);
        FailoverDuration.Record(took.TotalSeconds, tag);
        StartFailoverSpan(cluster, endpoint, took)?.Dispose();
    }

    /// <summary>As <see cref="RecordFailover(string, string, TimeSpan)"/>, for one shard of a sharded store (a Redis
    /// Cluster): the counter, the histogram and the span also carry <c>haclient.shard</c> (the shard's slot ranges).</summary>
    /// <param name="cluster">The component's logical name.</param>
    /// <param name="endpoint">The shard's new primary (host:port).</param>
    /// <param name="took">From losing the shard's old primary to adopting the new one.</param>
    /// <param name="shard">The shard's name.</param>
    public static void RecordFailover(string cluster, string endpoint, TimeSpan took, string shard)
    {
        var tag = new KeyValuePair<string, object?>("haclient.cluster", cluster);
        var shardTag = new KeyValuePair<string, object?>("haclient.shard", shard);
        Failovers.Add(1, tag, shardTag);
        FailoverDuration.Record(took.TotalSeconds, tag, shardTag);
        using var activity = StartFailoverSpan(cluster, endpoint, took);
        activity?.SetTag("haclient.shard", shard);
    }

    private static Activity? StartFailoverSpan(string cluster, string endpoint, TimeSpan took)
    {
        var activity = ActivitySource.StartActivity(FailoverActivityName);
        if (activity is not null)
        {
            // The span covers the time without a primary: it began when the old one was lost.
            activity.SetStartTime(activity.StartTimeUtc - took);
            activity.SetTag("haclient.cluster", cluster);
            activity.SetTag("haclient.endpoint", endpoint);
        }

        return activity;
    }

    static HaClientTelemetry()
    {
        Meter.CreateObservableGauge("haclient.endpoint.role", ObserveRoles, "{role}", "1 for each endpoint's current role (haclient.role: primary, replica, down, unknown), 0 for the others.");
        Meter.CreateObservableGauge("haclient.replica.lag", ObserveLag, "s", "Replica replay lag per endpoint, as last probed.");
        Meter.CreateObservableGauge("haclient.breaker.state", ObserveBreakers, "{state}", "Circuit breaker state per endpoint: 0 closed, 1 half-open, 2 open, 3 isolated.");
        Meter.CreateObservableGauge("haclient.pool.in_flight", ObserveInFlight, "{call}", "Calls in flight per endpoint (its pool's connections in use or awaited).");
        Meter.CreateObservableGauge("haclient.pool.limit", ObserveLimits, "{connection}", "The most connections HaClient opens per endpoint (MaxConnectionsPerHost).");
    }

    /// <summary>Lets the gauges observe <paramref name="source"/> (a store calls this when it starts), and starts its
    /// counters that Prometheus alerts on at 0: <c>haclient.failovers</c> and <c>haclient.errors</c> for every kind in
    /// <see cref="ErrorKinds"/>. (A series that first appears at 1 shows no increase in <c>rate()</c> or
    /// <c>increase()</c>, so the first failover would raise no alert.) Calling it again for a registered source only
    /// starts the counters again, for a listener that began after the store (a host's telemetry service).</summary>
    public static void Register(IEndpointStateSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        Sources.TryAdd(source, 0);
        var cluster = new KeyValuePair<string, object?>("haclient.cluster", source.ClusterName);
        Failovers.Add(0, cluster);
        foreach (var kind in ErrorKinds.All)
        {
            Errors.Add(0, cluster, new("error.type", kind));
        }
    }

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

    /// <summary>The values of <c>haclient.role</c> on <c>haclient.endpoint.role</c>: every endpoint reports each of them
    /// (1 for its role), so a role it left reads 0 at once instead of going stale. Redis's <c>master</c> is <c>primary</c>.</summary>
    private static readonly string[] Roles = ["primary", "replica", "down", "unknown"];

    private static IEnumerable<Measurement<int>> ObserveRoles()
    {
        foreach (var source in Sources.Keys)
        {
            foreach (var e in source.GetEndpointStates())
            {
                var role = e.Role == "master" ? "primary" : Array.IndexOf(Roles, e.Role) >= 0 ? e.Role : "unknown";
                foreach (var r in Roles)
                {
                    yield return new Measurement<int>(r == role ? 1 : 0, new("haclient.cluster", source.ClusterName), new("haclient.endpoint", e.Endpoint), new("haclient.role", r));
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

    /// <summary>The <c>haclient.breaker.state</c> value: ordered by how cut off the endpoint is (0 closed, 1 half-open,
    /// 2 open, 3 isolated), so that an alert on <c>&gt;= 2</c> means "takes no calls". (The enum's own order, Polly's,
    /// puts open before half-open.)</summary>
    internal static int BreakerGaugeValue(HaClient.Resilience.BreakerState state) => state switch
    {
        HaClient.Resilience.BreakerState.Closed => 0,
        HaClient.Resilience.BreakerState.HalfOpen => 1,
        HaClient.Resilience.BreakerState.Open => 2,
        _ => 3,
    };

    private static IEnumerable<Measurement<int>> ObserveBreakers()
    {
        foreach (var source in Sources.Keys)
        {
            foreach (var e in source.GetEndpointStates())
            {
                yield return new Measurement<int>(BreakerGaugeValue(e.Breaker), new("haclient.cluster", source.ClusterName), new("haclient.endpoint", e.Endpoint));
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
public readonly record struct EndpointSnapshot(string Endpoint, string Role, double? LagSeconds, HaClient.Resilience.BreakerState Breaker, int InFlight = 0, int ConnectionLimit = 0);

/// <summary>A component (a Postgres cluster, a Redis deployment) whose endpoints are observed by the gauges.</summary>
public interface IEndpointStateSource
{
    /// <summary>The component's logical name.</summary>
    string ClusterName { get; }

    /// <summary>Every endpoint as last observed.</summary>
    IReadOnlyList<EndpointSnapshot> GetEndpointStates();
}

