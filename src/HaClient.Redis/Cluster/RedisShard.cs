namespace HaClient.Redis;

/// <summary>One shard of a Redis Cluster as last probed: its slot ranges, its primary and its replicas. Immutable, part
/// of a <see cref="RedisTopology"/>. Never holds credentials.</summary>
public sealed class RedisShard
{
    private readonly RedisNodeState[] _states;

    internal RedisShard(string slots, (int Start, int End)[] ranges, RedisNodeState[] states, int primaryIndex, int[] replicaIndexes, long referenceOffset)
    {
        Slots = slots;
        Ranges = ranges;
        _states = states;
        PrimaryIndex = primaryIndex;
        ReplicaIndexes = replicaIndexes;
        ReferenceOffset = referenceOffset;
        Replicas = Array.ConvertAll(replicaIndexes, i => states[i]);
    }

    /// <summary>The shard's slot ranges (<c>0-5460</c>; several joined by commas): its name in health and metrics.</summary>
    public string Slots { get; }

    /// <summary>The node that owns the shard's slots and takes its writes, or <see langword="null"/> while none is
    /// verified (a failover is under way).</summary>
    public RedisNodeState? Primary => PrimaryIndex >= 0 ? _states[PrimaryIndex] : null;

    /// <summary>The shard's other nodes (replicas, and a former primary that is down or rejoining).</summary>
    public IReadOnlyList<RedisNodeState> Replicas { get; }

    /// <summary>Whether the shard runs without an available replica (after a failover, until the former primary rejoins,
    /// or while its replica is down): it has no failover left.</summary>
    public bool IsDegraded => Primary is not null && !Replicas.Any(r => r.Role == RedisNodeRole.Replica);

    /// <summary>How many bytes of replication offset <paramref name="replica"/> is behind the shard's primary (or the
    /// last one), as last probed; null when unknown.</summary>
    public long? GetLagBytes(RedisNodeState replica)
    {
        ArgumentNullException.ThrowIfNull(replica);
        if (replica.Role != RedisNodeRole.Replica || replica.ReplicationOffset < 0 || ReferenceOffset < 0)
        {
            return null;
        }

        return Math.Max(0, ReferenceOffset - replica.ReplicationOffset);
    }

    /// <summary>The slot ranges, inclusive.</summary>
    internal (int Start, int End)[] Ranges { get; }

    /// <summary>The primary's index in the topology's nodes, or -1.</summary>
    internal int PrimaryIndex { get; }

    /// <summary>The other nodes' indexes in the topology's nodes.</summary>
    internal int[] ReplicaIndexes { get; }

    /// <summary>The primary's last probed offset (the last primary's while none is verified; -1: unknown).</summary>
    internal long ReferenceOffset { get; }

    /// <summary>The slot ranges, the primary and the replicas, for diagnostics.</summary>
    public override string ToString() => $"{Slots} primary={Primary?.Endpoint.ToString() ?? "none"} replicas={string.Join(",", Replicas.Select(r => r.Endpoint))}";
}
