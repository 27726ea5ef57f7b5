using HaClient.Failover;

namespace HaClient.Redis;

/// <summary>One hash slot of a Redis Cluster as the failover engine sees it: <see cref="ClusterRouter"/> for that slot
/// over the monitor's latest published topology, and the monitor as the place failures are reported to. The deployment
/// keeps one per slot in use (and one engine over it), so a call costs no allocation for its routing.</summary>
internal sealed class ClusterSlotTopology(ClusterTopologyMonitor monitor, RedisOptions options, int slot) : IFailoverTopology<RedisNode, RedisReadIntent>
{
    private int _rotation;

    public Task Changed => monitor.Changed;

    public RedisNode? SelectWriter()
    {
        var t = monitor.Topology;
        return ClusterRouter.SelectPrimary(t, slot) is var i and >= 0 ? t.Links[i] : null;
    }

    public RedisNode? SelectReader(RedisReadIntent intent, RedisNode? exclude)
    {
        var t = monitor.Topology;
        var excluded = exclude is null ? -1 : Array.IndexOf(t.Links, exclude);
        var rotation = Interlocked.Increment(ref _rotation);

        // A token no node of this slot's shard knows is another deployment's or another shard's: ignored.
        var i = !intent.After.IsEmpty && ClusterRouter.Knows(t, slot, intent.After)
            ? ClusterRouter.SelectReaderAfter(t, slot, intent.Preference, intent.After, options.MaxLagBytes, excluded, rotation)
            : ClusterRouter.SelectReader(t, slot, intent.Preference, options.MaxLagBytes, options.FallbackToPrimary, excluded, rotation);
        return i >= 0 ? t.Links[i] : null;
    }

    public bool IsPrimary(RedisNode endpoint)
    {
        var t = monitor.Topology;
        return t.ShardOf(slot) is { PrimaryIndex: >= 0 } s && ReferenceEquals(t.Links[s.PrimaryIndex], endpoint);
    }

    public string NameOf(RedisNode endpoint) => endpoint.Name;

    public void RequestProbe() => monitor.RequestProbe();

    public Exception? CurrentFailure => ProbeFailures.MostTelling(monitor.Topology.Links, static n => n.ProbeFailure, RedisFailureClassifier.IsMisconfiguration);

    public void ReportNotPrimary(RedisNode endpoint) => monitor.ReportFailure(endpoint, "refused as not the slot's primary");

    public void ReportEndpointFailure(RedisNode endpoint, Exception failure) => monitor.ReportFailure(endpoint, failure.GetType().Name);

    public bool ProvesNotSent(Exception failure) => RedisFailoverTopology.NotSent(failure);
}
