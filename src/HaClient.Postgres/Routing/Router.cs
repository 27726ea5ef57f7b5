using System.Runtime.CompilerServices;
using HaClient.Routing;

namespace HaClient.Postgres;

/// <summary>
/// The routing decision: which host serves a request, from the monitor's latest state. Pure and allocation-free: it
/// reads the slots' states and counters and returns an index.
/// </summary>
internal static class Router
{
    /// <summary>The primary's index when it is known and its circuit lets calls through; otherwise -1.</summary>
    public static int SelectPrimary(HostSlot[] slots, int primaryIndex)
    {
        if (primaryIndex < 0)
        {
            return -1;
        }

        var slot = slots[primaryIndex];
        return slot.State.Role == PostgresRole.Primary && !slot.PatroniVeto && slot.Circuit.IsAvailable ? primaryIndex : -1;
    }

    /// <summary>
    /// The index of the host for a read: among the replicas that meet <paramref name="consistency"/> and the lag policy
    /// (skipping <paramref name="exclude"/>), the one of the best zone rank (local first; only local ones when
    /// <paramref name="localOnly"/>) and within it of the best <see cref="ReadChoice.Score"/> (calls in flight weighed
    /// against recent response time; ties go in turn from <paramref name="rotation"/>); else the primary when allowed
    /// (for a bounded read under <paramref name="localOnly"/>, only a local one); else -1. Timestamps are the component's
    /// <see cref="TimeProvider"/> ticks, <paramref name="timestampFrequency"/> per second.
    /// </summary>
    public static int SelectReader(HostSlot[] slots, int primaryIndex, in ReadConsistency consistency, ReplicaLagPolicy lag, bool fallbackToPrimary, long nowTimestamp, long timestampFrequency, int exclude, int rotation, bool localOnly = false)
    {
        var primary = SelectPrimary(slots, primaryIndex);
        if (consistency.Kind == ReadConsistencyKind.Primary)
        {
            return primary == exclude ? -1 : primary;
        }

        if (consistency.Kind == ReadConsistencyKind.AtLeast && !consistency.Token.IsOf(ClusterIdentifier(slots, primaryIndex)))
        {
            // Another cluster's token (it arrived from a client): ignored, as if none was given.
            return SelectReader(slots, primaryIndex, ReadConsistency.WithinLagBound, lag, fallbackToPrimary, nowTimestamp, timestampFrequency, exclude, rotation, localOnly);
        }

        var bounds = new ReadBounds(
            consistency,
            primary >= 0 ? slots[primary].State.WalLsn : 0UL,
            primary >= 0 ? slots[primary].State.Timeline : NewestTimeline(slots),
            lag.MaxLagTime is { } t ? t.TotalSeconds : double.PositiveInfinity,
            lag.MaxLagBytes ?? long.MaxValue,
            nowTimestamp,
            timestampFrequency);
        var best = Best(slots, bounds, exclude, rotation, localOnly);
        if (best >= 0)
        {
            return best;
        }

        if ((primary < 0 || primary == exclude || !fallbackToPrimary) && consistency.MaxStaleness > TimeSpan.Zero
            && Best(slots, new ReadBounds(default, 0UL, 0, consistency.MaxStaleness.TotalSeconds, long.MaxValue, nowTimestamp, timestampFrequency), exclude, rotation, localOnly) is var stale and >= 0)
        {
            return stale; // the ladder's first step: no fresh node, a replica within the read's staleness allowance
        }

        if (primary == exclude || (localOnly && primary >= 0 && consistency.Kind == ReadConsistencyKind.WithinLagBound && slots[primary].ZoneRank != ReadChoice.LocalRank))
        {
            return -1;
        }

        return fallbackToPrimary || consistency.Kind == ReadConsistencyKind.AtLeast ? primary : -1;
    }

    /// <summary>The cluster's system identifier as the monitor has read it: the primary's (<paramref name="primaryIndex"/>,
    /// the monitor's primary), else the first host's that is known; 0 while none is.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong ClusterIdentifier(HostSlot[] slots, int primaryIndex)
    {
        if (primaryIndex >= 0 && slots[primaryIndex].SystemIdentifier is var own and not 0)
        {
            return own;
        }

        foreach (var slot in slots)
        {
            if (slot.SystemIdentifier is var id and not 0)
            {
                return id;
            }
        }

        return 0;
    }

    /// <summary>The newest timeline any host has shown (a host that went down keeps its last one): with no primary known,
    /// the history a fresh or token read must be served from.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int NewestTimeline(HostSlot[] slots)
    {
        var newest = 0;
        foreach (var slot in slots)
        {
            newest = Math.Max(newest, slot.State.Timeline);
        }

        return newest;
    }

    /// <summary>Among the replicas <paramref name="bounds"/> admits (skipping <paramref name="exclude"/>; only local ones
    /// when <paramref name="localOnly"/>), the one of the best zone rank and within it the best
    /// <see cref="ReadChoice.Score"/>, ties going in turn from <paramref name="rotation"/>; or -1. Used for the fresh choice
    /// and for the ladder's stale step (bounds relaxed to the read's staleness allowance, any timeline).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Best(HostSlot[] slots, scoped in ReadBounds bounds, int exclude, int rotation, bool localOnly)
    {
        var best = -1;
        var bestRank = int.MaxValue;
        var bestScore = long.MaxValue;
        var n = slots.Length;
        for (var k = 0; k < n; k++)
        {
            var i = (int)((uint)(k + rotation) % (uint)n);
            var slot = slots[i];
            var rank = slot.ZoneRank;
            if (i == exclude || (localOnly && rank != ReadChoice.LocalRank) || !bounds.Admits(slot))
            {
                continue;
            }

            var score = ReadChoice.Score(Volatile.Read(ref slot.InFlight), Volatile.Read(ref slot.ResponseTicks));
            if (ReadChoice.Beats(rank, score, bestRank, bestScore))
            {
                (best, bestRank, bestScore) = (i, rank, score);
            }
        }

        return best;
    }
}

/// <summary>What a bounded read asks of a replica, computed once per decision.</summary>
internal readonly ref struct ReadBounds(in ReadConsistency consistency, ulong primaryLsn, int primaryTimeline, double maxLagSeconds, long maxLagBytes, long nowTimestamp, long timestampFrequency)
{
    private readonly ReadConsistency _consistency = consistency;

    /// <summary>Whether <paramref name="slot"/> may serve the read: a reachable replica, on the primary's timeline (the
    /// newest timeline seen while no primary is known) for a bounded or token read, within the lag bounds, and past the
    /// token.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Admits(HostSlot slot)
    {
        var s = slot.State;
        if (s.Role != PostgresRole.Replica || !slot.Circuit.IsAvailable || s.ReplayLagSeconds is null)
        {
            return false;
        }

        // A replica on another timeline than the primary (still following a dead or frozen old primary, or a thawed old
        // primary restarted as a standby before it was rewound) holds a history the primary does not: its LSNs cannot be
        // compared with the primary's or with a token's, so it serves no bounded or token read. With no primary known,
        // the newest timeline any host has shown stands in for it. (Timeline 0: its WAL receiver is not visible, as for
        // a role without pg_read_all_stats; the other bounds alone then apply.) A token read on an old timeline whose
        // LSN looked past the token served 249 stale reads in the soak (a thawed old primary, demoted by Patroni).
        if (_consistency.Kind is ReadConsistencyKind.WithinLagBound or ReadConsistencyKind.AtLeast
            && primaryTimeline != 0 && s.Timeline != 0 && s.Timeline != primaryTimeline)
        {
            return false;
        }

        // Staleness is measured against the primary, not taken from the replica: the replica holds every write the
        // primary had acknowledged as of CurrentAsOfTimestamp, and may miss any acknowledged since.
        if (maxLagSeconds != double.PositiveInfinity
            && (s.CurrentAsOfTimestamp == 0 || (double)(nowTimestamp - s.CurrentAsOfTimestamp) / timestampFrequency > maxLagSeconds))
        {
            return false;
        }

        if (maxLagBytes != long.MaxValue && (primaryLsn == 0 || (primaryLsn > s.WalLsn && (long)(primaryLsn - s.WalLsn) > maxLagBytes)))
        {
            return false;
        }

        // A token read needs a replica of the token's cluster (a host whose identifier is not known yet is taken as one).
        return _consistency.Kind != ReadConsistencyKind.AtLeast || (s.WalLsn >= _consistency.Token.Lsn && _consistency.Token.IsOf(slot.SystemIdentifier));
    }
}
