using HaClient.Failover;
using StackExchange.Redis;

namespace HaClient.Redis;

/// <summary>The deployment as the failover engine sees it: the master and the replicas within the offset bound, from
/// the monitor's latest state (or the one cluster-mode node), and the monitor as the place failures are reported to.</summary>
internal sealed class RedisFailoverTopology(RedisMonitor? monitor, RedisNode? clusterNode, RedisOptions options, TimeProvider time)
    : IFailoverTopology<RedisNode, RedisReadPreference>
{
    private int _rotation;

    // Cluster mode has no monitor: re-check at the failover probe interval.
    public Task Changed => monitor?.Changed ?? Task.Delay(options.FailoverProbeInterval, time);

    public RedisNode? SelectWriter()
    {
        var m = clusterNode ?? monitor!.Master;
        return m is not null && m.Multiplexer is not null && m.Circuit.IsAvailable ? m : null;
    }

    public RedisNode? SelectReader(RedisReadPreference intent, RedisNode? exclude)
    {
        if (clusterNode is not null || intent == RedisReadPreference.Master)
        {
            var m = SelectWriter();
            return ReferenceEquals(m, exclude) ? null : m;
        }

        if (intent == RedisReadPreference.MasterPreferred && SelectWriter() is { } preferred && !ReferenceEquals(preferred, exclude))
        {
            return preferred;
        }

        var nodes = monitor!.Nodes;
        var master = monitor.Master;
        var rotation = Interlocked.Increment(ref _rotation);
        for (var i = 0; i < nodes.Count; i++)
        {
            var n = nodes[(int)((uint)(rotation + i) % (uint)nodes.Count)];
            if (ReferenceEquals(n, exclude) || ReferenceEquals(n, master) || n.State.Role != RedisNodeRole.Replica
                || n.Multiplexer is null || !n.Circuit.IsAvailable)
            {
                continue;
            }

            if (monitor.LagBytes(n) is { } lag && lag <= options.MaxLagBytes)
            {
                return n;
            }
        }

        if (options.FallbackToMaster && master is not null && !ReferenceEquals(master, exclude) && master.Multiplexer is not null && master.Circuit.IsAvailable)
        {
            return master;
        }

        return null;
    }

    public bool IsPrimary(RedisNode endpoint) => monitor is null || ReferenceEquals(endpoint, monitor.Master);

    public string NameOf(RedisNode endpoint) => endpoint.Name;

    public void RequestProbe() => monitor?.RequestProbe();

    public void ReportNotPrimary(RedisNode endpoint) => monitor?.ReportMasterFailure(endpoint, "READONLY reply");

    /// <summary>A broken connection to the master makes the monitor re-verify the master at once; any other endpoint
    /// failure wakes its probes.</summary>
    public void ReportEndpointFailure(RedisNode endpoint, Exception failure)
    {
        if (failure is RedisConnectionException or NodeNotConnectedException or Polly.CircuitBreaker.BrokenCircuitException)
        {
            monitor?.ReportMasterFailure(endpoint, failure.GetType().Name);
        }
        else
        {
            monitor?.RequestProbe();
        }
    }

    /// <summary>StackExchange.Redis refused the command because no connection could take it: it never reached a socket.</summary>
    public bool ProvesNotSent(Exception failure)
        => failure is RedisConnectionException { FailureType: ConnectionFailureType.UnableToResolvePhysicalConnection } or NodeNotConnectedException;
}
