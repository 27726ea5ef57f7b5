using HaClient.Routing;

namespace HaClient.Postgres;

/// <summary>What <see cref="PostgresCluster.CapToken"/> decides, over the monitor's latest host states (<see cref="TokenCap"/>
/// is the rule). Pure and allocation-free.</summary>
internal static class PostgresTokenCap
{
    /// <summary>The token to keep of <paramref name="token"/>, which arrived in a request that began at
    /// <paramref name="requestStarted"/>: empty for another cluster's; capped to the primary's probed position when a
    /// probe of the primary (<paramref name="primaryIndex"/>, on the newest timeline any host has shown) that began after
    /// the request shows the token beyond it; else the token, with the cluster's identifier when it carried none.
    /// <paramref name="needsSample"/>: the token is beyond the primary's last position but no such probe exists yet.</summary>
    public static ConsistencyToken Cap(HostSlot[] slots, int primaryIndex, ConsistencyToken token, long requestStarted, long frequency, out bool needsSample)
    {
        needsSample = false;
        if (token.IsEmpty)
        {
            return token;
        }

        var identifier = Router.ClusterIdentifier(slots, primaryIndex);
        if (!token.IsOf(identifier))
        {
            return default;
        }

        var own = token.SystemIdentifier == 0 && identifier != 0 ? new ConsistencyToken(token.Lsn, identifier) : token;
        if (primaryIndex < 0 || slots[primaryIndex].State is not { Role: PostgresRole.Primary, WalLsn: not 0 } primary || token.Lsn <= primary.WalLsn)
        {
            return own;
        }

        if (!TokenCap.ProbeBegunAfter(primary.ProbedAtTimestamp, primary.ProbeDuration, requestStarted, frequency))
        {
            needsSample = true;
            return own;
        }

        // A primary behind another host's timeline is not the history writes go to now (the monitor has not caught up
        // with a promotion): its position proves nothing about a token of the newer timeline.
        return primary.Timeline != 0 && primary.Timeline < Router.NewestTimeline(slots) ? own : new ConsistencyToken(primary.WalLsn, identifier);
    }
}
