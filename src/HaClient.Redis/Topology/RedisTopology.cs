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

    internal static readonly RedisTopology Empty = new(0, [], [], -1, -1, -1);

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
