namespace HaClient.Redis;

/// <summary>
/// The routing decision in Redis Cluster mode: which node serves a request for a slot, from the monitor's latest
/// published <see cref="RedisTopology"/>. Pure and allocation-free, by the same rules as <see cref="RedisRouter"/> within
/// the slot's shard.
/// </summary>
internal static class ClusterRouter
{
    /// <summary>The index of the primary of <paramref name="slot"/>'s shard when one is verified, connected and its
    /// circuit lets calls through; otherwise -1.</summary>
    public static int SelectPrimary(RedisTopology topology, int slot)
    {
        if (topology.ShardOf(slot) is not { } shard)
        {
            return -1;
        }

        var i = shard.PrimaryIndex;
        return i >= 0 && topology.States[i].Role == RedisNodeRole.Primary && IsUsable(topology.Links[i]) ? i : -1;
    }

    /// <summary>The index of the node for a read of <paramref name="slot"/>, never <paramref name="exclude"/>: the
    /// shard's primary for <see cref="RedisReadPreference.Primary"/> (and first for
    /// <see cref="RedisReadPreference.PrimaryPreferred"/>); otherwise one of the shard's replicas, taken in turn from
    /// <paramref name="rotation"/>, within <paramref name="maxLagBytes"/> of the shard's primary's (or last primary's)
    /// probed offset; else the primary when <paramref name="fallbackToPrimary"/>; else -1.</summary>
    public static int SelectReader(RedisTopology topology, int slot, RedisReadPreference preference, long maxLagBytes, bool fallbackToPrimary, int exclude, int rotation)
    {
        var primary = SelectPrimary(topology, slot);
        if (primary == exclude)
        {
            primary = -1;
        }

        if (preference == RedisReadPreference.Primary || (preference == RedisReadPreference.PrimaryPreferred && primary >= 0))
        {
            return primary;
        }

        if (topology.ShardOf(slot) is { ReferenceOffset: >= 0 } shard)
        {
            var replicas = shard.ReplicaIndexes;
            var n = replicas.Length;
            for (var k = 0; k < n; k++)
            {
                var i = replicas[(int)((uint)(k + rotation) % (uint)n)];
                var s = topology.States[i];
                if (i == exclude || s.Role != RedisNodeRole.Replica || s.ReplicationOffset < 0
                    || shard.ReferenceOffset - s.ReplicationOffset > maxLagBytes || !IsUsable(topology.Links[i]))
                {
                    continue;
                }

                return i;
            }
        }

        return fallbackToPrimary ? primary : -1;
    }

    /// <summary>Whether a node of <paramref name="slot"/>'s shard knows the token's history (now or as its previous one).</summary>
    public static bool Knows(RedisTopology topology, int slot, in RedisConsistencyToken after)
    {
        if (after.ReplicationId is not { } id || topology.ShardOf(slot) is not { } shard)
        {
            return false;
        }

        if (shard.PrimaryIndex >= 0 && TokenRule.Knows(topology.States[shard.PrimaryIndex], id))
        {
            return true;
        }

        foreach (var i in shard.ReplicaIndexes)
        {
            if (TokenRule.Knows(topology.States[i], id))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The index of the node for a read of <paramref name="slot"/> that must see <paramref name="after"/>, by
    /// the rules of <see cref="RedisRouter.SelectReaderAfter"/> within the slot's shard: a replica that proves it holds
    /// the write (while the shard's primary, when one is verified, is on the token's history), else the primary.</summary>
    public static int SelectReaderAfter(RedisTopology topology, int slot, RedisReadPreference preference, in RedisConsistencyToken after, long maxLagBytes, int exclude, int rotation)
    {
        var primary = SelectPrimary(topology, slot);
        if (primary == exclude)
        {
            primary = -1;
        }

        if (preference == RedisReadPreference.Primary || (preference == RedisReadPreference.PrimaryPreferred && primary >= 0))
        {
            return primary;
        }

        if (topology.ShardOf(slot) is not { ReferenceOffset: >= 0 } shard
            || (shard.PrimaryIndex >= 0 && !TokenRule.IsCurrentHistory(topology.States[shard.PrimaryIndex], after)))
        {
            return primary;
        }

        var replicas = shard.ReplicaIndexes;
        var n = replicas.Length;
        for (var k = 0; k < n; k++)
        {
            var i = replicas[(int)((uint)(k + rotation) % (uint)n)];
            var s = topology.States[i];
            if (i == exclude || !TokenRule.Proves(s, after) || s.ReplicationOffset < 0
                || shard.ReferenceOffset - s.ReplicationOffset > maxLagBytes || !IsUsable(topology.Links[i]))
            {
                continue;
            }

            return i;
        }

        return primary;
    }

    private static bool IsUsable(RedisNode node) => node.Multiplexer is not null && node.Circuit.IsAvailable;
}
