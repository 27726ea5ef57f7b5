namespace HaClient.Redis;

/// <summary>An immutable view of the deployment: every node's last probe and the primary chosen from them. Never holds
/// credentials.</summary>
public sealed class RedisTopology
{
    internal RedisTopology(long version, RedisNode[] nodes, RedisNodeState[] states, int primaryIndex, int referenceIndex, long referenceOffset)
    {
        Version = version;
        Links = nodes;
        States = states;
        PrimaryIndex = primaryIndex;
        ReferenceIndex = referenceIndex;
        ReferenceOffset = referenceOffset;
    }

    internal RedisTopology(long version, RedisNode[] nodes, RedisNodeState[] states, RedisShard[] shards, short[] slotMap)
        : this(version, nodes, states, -1, -1, -1)
    {
        Shards = shards;
        SlotMap = slotMap;
    }

    internal static readonly RedisTopology Empty = new(0, [], [], -1, -1, -1);

    /// <summary>In Redis Cluster mode, every shard (slot ranges, primary, replicas); empty otherwise.</summary>
    public IReadOnlyList<RedisShard> Shards { get; } = [];

    /// <summary>In Redis Cluster mode, the shard index (into <see cref="Shards"/>) of every slot, -1 where no shard owns it.</summary>
    internal short[]? SlotMap { get; }

    /// <summary>The shard that owns <paramref name="slot"/>, or null (not cluster mode, or no shard owns it).</summary>
    internal RedisShard? ShardOf(int slot)
        => SlotMap is { } map && (uint)slot < (uint)map.Length && map[slot] is var i && i >= 0 ? (RedisShard)Shards[i] : null;

    /// <summary>Increases with every change of the chosen primary or of any node's role.</summary>
    public long Version { get; }

    /// <summary>Every known node, in the order they became known (configured first, then discovered).</summary>
    public IReadOnlyList<RedisNodeState> Nodes => States;

    /// <summary>The index in <see cref="Nodes"/> of the node writes go to, or -1 while none is verified.</summary>
    public int PrimaryIndex { get; }

    /// <summary>The node writes go to, if any.</summary>
    public RedisNodeState? Primary => PrimaryIndex >= 0 ? States[PrimaryIndex] : null;

    /// <summary>How many bytes of replication offset the node at <paramref name="index"/> is behind the primary (or,
    /// while none is verified, the last one), as last probed: 0 for the primary, null when unknown or when the node
    /// does not replicate from that primary.</summary>
    public long? GetLagBytes(int index)
    {
        var s = States[index];
        if (index == ReferenceIndex && s.Role == RedisNodeRole.Primary)
        {
            return 0;
        }

        if (s.Role != RedisNodeRole.Replica || s.ReplicationOffset < 0 || ReferenceOffset < 0 || ReferenceIndex < 0
            || s.ReplicaOf != States[ReferenceIndex].Endpoint)
        {
            return null;
        }

        return Math.Max(0, ReferenceOffset - s.ReplicationOffset);
    }

    /// <summary>The nodes' connections, index for index with <see cref="States"/>.</summary>
    internal RedisNode[] Links { get; }

    internal RedisNodeState[] States { get; }

    /// <summary>The primary replica lag is measured against: the verified primary, else the last one (-1: none yet).</summary>
    internal int ReferenceIndex { get; }

    /// <summary>That primary's last probed replication offset (-1: unknown).</summary>
    internal long ReferenceOffset { get; }
}
