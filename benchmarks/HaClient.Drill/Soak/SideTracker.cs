namespace HaClient.Drill.Soak;

/// <summary>What one side (PostgreSQL or Redis) showed over one closed window.</summary>
/// <remarks><see cref="WrongRole"/> counts both rules; <see cref="WrongRoleByMajority"/> is the part only the majority's
/// rule found (the node still answered as a primary).</remarks>
internal sealed record SideFigures(double WindowMs, long Acked, long Failed, long OutcomeUnknown, long ReadsOk, long Stale, long StaleExplained, long ReadErrors,
    double MaxCallMs, long OverLimit, long WrongRole, long WrongRoleByMajority, long Lost, long LostLeaseBug, long LostLabReset, bool Checked, string StaleDetail);

/// <summary>
/// Closes one side's windows: the write-unavailability window, the wrong-role count, and the acknowledged writes
/// missing on the primary after healed. A write was acknowledged by a non-primary when the observer saw its node as a
/// replica before the write started and after its ack (the drills' <see cref="RoleHistory"/> rule), or, with
/// <paramref name="namedAnother"/> (<see cref="MajorityVerdicts"/>: Patroni's REST majority, the Sentinels'), when the
/// old primary (the one at the fault) acknowledged it while the majority named another primary (the drills' partition
/// rule). A window's writes are checked again when the
/// next window closes (a failover while the previous one settles can lose them); each lost write is counted once.
/// </summary>
internal sealed class SideTracker<TKey>(NodeObserver observer, Func<IReadOnlyList<SoakAck<TKey>>, CancellationToken, Task<MissingWrites<TKey>?>> missing,
    Func<int, double, bool>? namedAnother = null)
    where TKey : notnull
{
    private SoakAck<TKey>[] _previous = [];
    // Lost writes already counted, for the last two windows only (a write is checked again only while it is in
    // _previous, and a read looks for writes of the last two windows at most): a long run does not keep them all.
    private HashSet<TKey> _lostBefore = [];
    private HashSet<TKey> _excusedBefore = [];

    /// <param name="oldPrimary">The primary when the fault was injected (-1: none or unknown).</param>
    /// <param name="leaseBugPossible">Lost writes of a window in which the old primary took the leadership back from a
    /// promoted node are the Patroni 3.0.2 lease bug (the frozen leader took its key back; one history was rewound).</param>
    public async Task<SideFigures> CloseAsync(SoakWindow<TKey> w, double faultAt, double healedAt, int oldPrimary, bool leaseBugPossible, CancellationToken ct)
    {
        var acks = w.Acks.ToArray();
        var asReplica = acks.Count(a => a.Node >= 0 && observer.WasReplicaThroughout(a.Node, a.StartedAt, a.AckedAt));
        // The drills' partition rule: the old primary's acknowledgements after the majority named another. Only the old
        // primary's: a newly promoted node is the primary before the last voters learn it (a Sentinel hears of a
        // failover from its peers up to 2 s later), and its writes then are not wrong.
        var byMajority = namedAnother is null || oldPrimary < 0 ? 0
            : acks.Count(a => a.Node == oldPrimary && namedAnother(a.Node, a.AckedAt) && !observer.WasReplicaThroughout(a.Node, a.StartedAt, a.AckedAt));
        MissingWrites<TKey>? miss = null;
        for (var attempt = 0; attempt < 5 && miss is null; attempt++)
        {
            try
            {
                miss = await missing(_previous.Concat(acks).ToList(), ct);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                Console.WriteLine($"soak: the lost-write check failed ({e.GetType().Name}); retrying");
            }

            if (miss is null) await Task.Delay(1000, ct);
        }

        var lost = new HashSet<TKey>(miss?.Missing.Select(m => m.Key) ?? []);
        var fresh = miss?.Missing.Where(m => !_lostBefore.Contains(m.Key)).ToList() ?? [];
        var reset = miss?.Reset == true ? fresh.Count : 0;
        // The lease bug: after a freeze, the thawed old leader took the leadership back from the promoted node (the
        // observer saw it primary again after another node); the history one of them wrote is then discarded.
        var leaseBug = reset == 0 && leaseBugPossible && observer.PrimaryTakenBack(oldPrimary, faultAt) ? fresh.Count : 0;
        // A read that missed a write the server then lost to the lease bug or a lab reset is explained by that loss.
        var excused = reset > 0 ? lost
            : leaseBug > 0 ? lost
            : [];
        var explained = w.StaleKeys.Count(k => excused.Contains(k) || _excusedBefore.Contains(k));
        _lostBefore = lost;
        _excusedBefore = excused;
        _previous = acks;
        return new SideFigures(Math.Round(w.LongestWriteGapMs(faultAt, healedAt), 1), acks.Length, w.WritesFailed, w.OutcomeUnknown, w.ReadsOk, w.Stale - explained, explained, w.ReadErrors,
            Math.Round(w.MaxCallMs, 1), w.OverLimit, asReplica + byMajority, byMajority, fresh.Count - leaseBug - reset, leaseBug, reset, miss is not null,
            string.Join(", ", w.StaleBy.OrderByDescending(kv => kv.Value).Select(kv => $"{kv.Value} {kv.Key}")));
    }
}
