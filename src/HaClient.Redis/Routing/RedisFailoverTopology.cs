using HaClient.Failover;
using StackExchange.Redis;

namespace HaClient.Redis;

/// <summary>The deployment as the failover engine sees it: <see cref="RedisRouter"/> over the monitor's latest
/// published topology (in cluster mode only the topology: calls route per slot, <see cref="ClusterSlotTopology"/>), and the monitor as the place failures are reported to.</summary>
internal sealed class RedisFailoverTopology : IFailoverTopology<RedisNode, RedisReadIntent>
{
    private readonly RedisTopologyMonitor? _monitor;
    private readonly ClusterTopologyMonitor? _cluster;
    private readonly RedisOptions _options;
    private readonly TimeProvider _time;
    private readonly bool _localOnly;
    private int _rotation;

    public RedisFailoverTopology(RedisTopologyMonitor? monitor, ClusterTopologyMonitor? cluster, RedisOptions options, TimeProvider time)
    {
        _monitor = monitor;
        _cluster = cluster;
        _options = options;
        _time = time;
        _localOnly = options.LocalZone is not null && options.ZonePolicy == HaClient.Routing.ZonePolicy.LocalOnly;
    }

    /// <summary>The topology routed over.</summary>
    public RedisTopology Current => _cluster?.Topology ?? _monitor!.Topology;

    // Cluster mode routes per slot (ClusterSlotTopology); this one is only read for the topology there.
    public Task Changed => _monitor?.Changed ?? _cluster!.Changed;

    public RedisNode? SelectWriter()
    {
        var t = Current;
        return RedisRouter.SelectPrimary(t) is var i and >= 0 ? t.Links[i] : null;
    }

    public RedisNode? SelectReader(RedisReadIntent intent, RedisNode? exclude)
    {
        var t = Current;
        var excluded = exclude is null ? -1 : Array.IndexOf(t.Links, exclude);
        var rotation = Interlocked.Increment(ref _rotation);

        // A token no node knows is another deployment's: the read goes as if it had none.
        var i = !intent.After.IsEmpty && TokenRule.Knows(t, intent.After)
            ? RedisRouter.SelectReaderAfter(t, intent.Preference, intent.After, _options.MaxLagBytes, excluded, rotation, _localOnly)
            : RedisRouter.SelectReader(t, intent.Preference, _options.MaxLagBytes, _options.FallbackToPrimary, excluded, rotation, _localOnly);
        return i >= 0 ? t.Links[i] : null;
    }

    public bool IsPrimary(RedisNode endpoint)
    {
        var t = Current;
        return t.PrimaryIndex >= 0 && ReferenceEquals(t.Links[t.PrimaryIndex], endpoint);
    }

    public bool? IsInLocalZone(RedisNode endpoint) => endpoint.IsLocal;

    public string NameOf(RedisNode endpoint) => endpoint.Name;

    public void RequestProbe() => _monitor?.RequestProbe();

    /// <summary>The probes' failure that explains an empty choice best: a refused credential over a network error.</summary>
    public Exception? CurrentFailure => ProbeFailures.MostTelling(Current.Links, static n => n.ProbeFailure, RedisFailureClassifier.IsMisconfiguration);

    public void ReportNotPrimary(RedisNode endpoint) => _monitor?.ReportPrimaryFailure(endpoint, "READONLY reply");

    /// <summary>A broken connection to the primary makes the monitor re-verify the primary at once; any other endpoint
    /// failure wakes its probes.</summary>
    public void ReportEndpointFailure(RedisNode endpoint, Exception failure)
    {
        if (failure is RedisConnectionException or NodeNotConnectedException or Polly.CircuitBreaker.BrokenCircuitException)
        {
            _monitor?.ReportPrimaryFailure(endpoint, failure.GetType().Name);
        }
        else
        {
            _monitor?.RequestProbe();
        }
    }

    /// <summary>StackExchange.Redis refused the command because no connection could take it: it never reached a socket.</summary>
    public bool ProvesNotSent(Exception failure) => NotSent(failure);

    /// <summary>Whether <paramref name="failure"/> proves the command never reached a socket.</summary>
    internal static bool NotSent(Exception failure)
        => failure is RedisConnectionException { FailureType: ConnectionFailureType.UnableToResolvePhysicalConnection } or NodeNotConnectedException;
}
