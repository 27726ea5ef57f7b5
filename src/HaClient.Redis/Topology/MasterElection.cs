namespace HaClient.Redis;

/// <summary>A failover the leader Sentinel announced (<c>+selected-slave</c>): it is promoting <see cref="Replica"/>
/// to replace <see cref="From"/>; <see cref="Age"/> since the announcement.</summary>
internal readonly record struct PromotionUnderWay(HostEndpoint Replica, HostEndpoint From, TimeSpan Age);

/// <summary>Why the election chose what it chose.</summary>
internal enum ElectionOutcome
{
    /// <summary>No node may take writes.</summary>
    None,

    /// <summary>The node a <c>+switch-master</c> or the Sentinels' votes name, verified primary by its <c>ROLE</c>.</summary>
    Named,

    /// <summary>The replica the leader Sentinel selected, now primary, promoted from the node it replaces.</summary>
    FollowSelected,

    /// <summary>The one replica of the lost primary that now says primary, while the Sentinels still name the lost one.</summary>
    FollowPromoted,

    /// <summary>The current primary, promoted from a node some Sentinels still name.</summary>
    KeptPromoted,

    /// <summary>No Sentinel answered: the current primary, while its <c>ROLE</c> still says primary.</summary>
    KeptWhileSilent,

    /// <summary>Without Sentinels: the node whose <c>ROLE</c> says primary (most replicas, then highest offset).</summary>
    ByRole,
}

/// <summary>The election's result: the chosen index in the states (-1: none), why, whether the announced promotion is
/// settled (expired, or the Sentinels now name its replica), and how many nodes claim primary.</summary>
internal readonly record struct Election(int Index, ElectionOutcome Outcome, bool PromotionSettled, int Claims);

/// <summary>
/// Which node takes writes, from one round's fresh <c>ROLE</c> states and what the Sentinels said. Pure: no I/O, no
/// clock, no shared state (Sentinel's own term "master" is kept in the name; the public API says primary).
/// </summary>
internal static class MasterElection
{
    /// <summary>How long an announced promotion is followed at most.</summary>
    public static readonly TimeSpan PromotionLifetime = TimeSpan.FromSeconds(30);

    /// <summary>How long the primary Sentinel is failing over is kept from writes while its replica is promoted; after
    /// that (a failover that went nowhere) it may be chosen again.</summary>
    public static readonly TimeSpan FailoverHold = TimeSpan.FromSeconds(2);

    /// <summary>The election with Sentinels. <paramref name="current"/> is the primary now (-1: none),
    /// <paramref name="hint"/> the address of the last <c>+switch-master</c> not yet verified.</summary>
    public static Election BySentinels(IReadOnlyList<RedisNodeState> states, int current, SentinelVotes votes, HostEndpoint? hint, PromotionUnderWay? promotion, bool followPromoted)
    {
        var settled = false;
        HostEndpoint? held = null;
        if (followPromoted && promotion is { } p)
        {
            settled = p.Age > PromotionLifetime || votes.Top == p.Replica;

            // A Sentinel leader is promoting this replica (manual failover or crash): follow it as soon as it says
            // primary, even while the old primary still accepts writes that the failover would discard.
            var i = IndexOf(states, p.Replica);
            if (i >= 0 && states[i].Role == RedisNodeRole.Primary && states[i].PromotedFrom == p.From)
            {
                return new Election(i, ElectionOutcome.FollowSelected, settled, 0);
            }

            held = p.Age < FailoverHold ? p.From : null;
        }

        if (current >= 0 && states[current].Role == RedisNodeRole.Primary && states[current].PromotedFrom is { } lost && votes.Names(lost))
        {
            // Already following a promoted replica while (some) Sentinels still name the primary it replaced.
            return new Election(current, ElectionOutcome.KeptPromoted, settled, 0);
        }

        // The announced address first, then the named ones by votes; never the node being failed over.
        if (hint is { } h && h != held && IndexOfPrimary(states, h) is var hi and >= 0)
        {
            return new Election(hi, ElectionOutcome.Named, settled, 0);
        }

        foreach (var (e, _) in votes.Named)
        {
            if (e != held && IndexOfPrimary(states, e) is var vi and >= 0)
            {
                return new Election(vi, ElectionOutcome.Named, settled, 0);
            }
        }

        if (votes.Answered > 0 && current < 0 && followPromoted && votes.Top is { } named && SinglePromotedFrom(states, named) is var pi and >= 0)
        {
            // The Sentinels still name the lost primary: a failover is under way, and Sentinel announces the new primary
            // only after reconfiguring the other replicas (about 1 s after the promotion). A replica of exactly that lost
            // primary that now says primary (promoted in place) is the one Sentinel promoted: follow it now. Never the
            // named node itself, never when ambiguous.
            return new Election(pi, ElectionOutcome.FollowPromoted, settled, 0);
        }

        if (votes.Answered == 0 && current >= 0 && states[current].Role == RedisNodeRole.Primary)
        {
            return new Election(current, ElectionOutcome.KeptWhileSilent, settled, 0);
        }

        return new Election(-1, ElectionOutcome.None, settled, 0);
    }

    /// <summary>The election without Sentinels: among the nodes whose <c>ROLE</c> says primary, the one with the most
    /// replicas, then the highest offset (the first on a tie).</summary>
    public static Election ByRole(IReadOnlyList<RedisNodeState> states)
    {
        int best = -1, claims = 0;
        for (var i = 0; i < states.Count; i++)
        {
            var s = states[i];
            if (s.Role != RedisNodeRole.Primary)
            {
                continue;
            }

            claims++;
            if (best < 0 || s.Replicas.Count > states[best].Replicas.Count
                || (s.Replicas.Count == states[best].Replicas.Count && s.ReplicationOffset > states[best].ReplicationOffset))
            {
                best = i;
            }
        }

        return new Election(best, best >= 0 ? ElectionOutcome.ByRole : ElectionOutcome.None, false, claims);
    }

    private static int IndexOf(IReadOnlyList<RedisNodeState> states, HostEndpoint endpoint)
    {
        for (var i = 0; i < states.Count; i++)
        {
            if (states[i].Endpoint == endpoint)
            {
                return i;
            }
        }

        return -1;
    }

    private static int IndexOfPrimary(IReadOnlyList<RedisNodeState> states, HostEndpoint endpoint)
        => IndexOf(states, endpoint) is var i and >= 0 && states[i].Role == RedisNodeRole.Primary ? i : -1;

    private static int SinglePromotedFrom(IReadOnlyList<RedisNodeState> states, HostEndpoint lost)
    {
        var found = -1;
        for (var i = 0; i < states.Count; i++)
        {
            var s = states[i];
            if (s.Endpoint != lost && s.Role == RedisNodeRole.Primary && s.PromotedFrom == lost)
            {
                if (found >= 0)
                {
                    return -1;
                }

                found = i;
            }
        }

        return found;
    }
}
