using HaClient.Routing;

namespace HaClient.Redis;

/// <summary>What <see cref="RedisDeployment.CapToken"/> decides, over the latest topology (<see cref="TokenCap"/> is the
/// rule). Pure and allocation-free.</summary>
internal static class RedisTokenCap
{
    /// <summary>The token to keep of <paramref name="token"/>, which arrived in a request that began at
    /// <paramref name="requestStarted"/>: empty when no node knows its replication ID while some node's is known
    /// (another deployment's); capped to the offset of the primary on the token's history when a probe of that primary
    /// that began after the request shows the token beyond it; else the token. <paramref name="needsSample"/>: the token
    /// is beyond that primary's last offset but no such probe exists yet.</summary>
    public static RedisConsistencyToken Cap(RedisTopology topology, in RedisConsistencyToken token, long requestStarted, long frequency, out bool needsSample)
    {
        needsSample = false;
        if (token.IsEmpty)
        {
            return token;
        }

        RedisNodeState? primary = null;
        var anyKnown = false;
        foreach (var s in topology.States)
        {
            anyKnown |= s.History.ReplicationId is not null;
            if (s.Role == RedisNodeRole.Primary && s.History.IsPrimary && string.Equals(s.History.ReplicationId, token.ReplicationId, StringComparison.Ordinal))
            {
                primary = s;
            }
        }

        if (anyKnown && !TokenRule.Knows(topology, token))
        {
            return default;
        }

        if (primary is null || primary.History.Offset < 0 || token.Offset <= primary.History.Offset)
        {
            return token;
        }

        if (!TokenCap.ProbeBegunAfter(primary.ProbedAtTimestamp, primary.ProbeDuration, requestStarted, frequency))
        {
            needsSample = true;
            return token;
        }

        return new RedisConsistencyToken(token.ReplicationId!, primary.History.Offset);
    }
}
