namespace HaClient.Redis;

/// <summary>
/// When a node may serve a read given a <see cref="RedisConsistencyToken"/>. Pure and allocation-free.
/// <list type="bullet">
/// <item>A replica proves it holds the token's write when its probed history is the token's replication ID and its
/// processed offset has reached the token's offset (Redis's PSYNC2 rule: one ID and offset name one data set).</item>
/// <item>A token whose ID no node knows (as its current or previous ID) is another deployment's (or another shard's):
/// it is ignored.</item>
/// <item>A token of an older history (the primary has another ID now: a failover) is answered by the primary only.</item>
/// </list>
/// </summary>
internal static class TokenRule
{
    /// <summary>Whether <paramref name="state"/> knows the history <paramref name="replicationId"/> (now or as its
    /// previous one).</summary>
    public static bool Knows(RedisNodeState state, string replicationId)
        => string.Equals(state.History.ReplicationId, replicationId, StringComparison.Ordinal)
        || string.Equals(state.History.ReplicationId2, replicationId, StringComparison.Ordinal);

    /// <summary>Whether some node of <paramref name="topology"/> knows the token's history.</summary>
    public static bool Knows(RedisTopology topology, in RedisConsistencyToken after)
    {
        var id = after.ReplicationId;
        if (id is null)
        {
            return false;
        }

        foreach (var s in topology.States)
        {
            if (Knows(s, id))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether <paramref name="state"/>, a replica, proves it holds the token's write.</summary>
    public static bool Proves(RedisNodeState state, in RedisConsistencyToken after)
        => state.Role == RedisNodeRole.Replica
        && string.Equals(state.History.ReplicationId, after.ReplicationId, StringComparison.Ordinal)
        && state.History.Offset >= after.Offset;

    /// <summary>Whether the primary's history (<paramref name="reference"/>: the verified or last primary) is the
    /// token's, so that a replica's proof is against the history writes go to now.</summary>
    public static bool IsCurrentHistory(RedisNodeState reference, in RedisConsistencyToken after)
        => string.Equals(reference.History.ReplicationId, after.ReplicationId, StringComparison.Ordinal);
}
