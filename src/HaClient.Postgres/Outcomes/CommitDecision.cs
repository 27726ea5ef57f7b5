using HaClient.Failover;

namespace HaClient.Postgres;

/// <summary>
/// Decides what became of a commit whose reply was lost, from the evidence recorded before it
/// (<see cref="CommitEvidence"/>) and the facts of the server that is primary now (<see cref="PrimaryFacts"/>). Pure.
/// <para>
/// The trap: <c>pg_xact_status(xid)</c> describes whatever transaction holds that ID on the server asked. A standby
/// promoted in asynchronous mode before it received the transaction's records hands the same ID out again, and a
/// primary restarted after a crash that lost them does too, so a bare status can describe a different transaction. The
/// status is trusted only when the server provably replayed every record written before the commit (which include the
/// ones carrying the ID, so it never reassigned it):
/// </para>
/// <list type="number">
/// <item>the same server instance (system, start time and timeline unchanged): its status is the transaction's;</item>
/// <item>the same timeline on a restarted server (a crash recovery; a promotion always starts a new timeline): its
/// recovery ended at or past the evidence's WAL position, or it never needed one (a clean shutdown keeps everything);</item>
/// <item>the next timeline, on a server running since before the transaction began (a standby promoted since, not
/// restarted after): its recovery, which ends at the switch point, ended at or past the evidence's WAL position.</item>
/// </list>
/// When the recovery ended before that position, the commit record (written after it) is not in the server's history:
/// not committed. A status of <c>future</c> means the server never saw a record carrying the ID: not committed. Anything
/// else (another system, two or more promotions since, a standby promoted after a restart) is unknowable from here.
/// The one gap: a transaction that wrote only temporary or unlogged tables has no WAL record before its commit, so rule 2
/// and 3 cannot prove its ID was seen; its writes do not survive a failover anyway.
/// </summary>
internal static class CommitDecision
{
    /// <summary>The verdict (<see cref="CommitVerdict"/>).</summary>
    public static CommitVerdict Decide(CommitEvidence evidence, in PrimaryFacts facts)
    {
        if (evidence.Xid is null)
        {
            // Never assigned an ID: the transaction wrote nothing durable, so its commit changed nothing either way and
            // the work's result stands.
            return CommitVerdict.Committed;
        }

        if (facts.SystemIdentifier != evidence.SystemIdentifier)
        {
            return CommitVerdict.Unknowable;
        }

        if (facts.InRecovery || facts.Timeline is not { } timeline)
        {
            return CommitVerdict.NotYet; // a standby: the primary is yet to be found
        }

        if (timeline == evidence.Timeline && facts.PostmasterStart == evidence.PostmasterStart)
        {
            return facts.XactStatus switch
            {
                "committed" => CommitVerdict.Committed,
                "aborted" => CommitVerdict.NotCommitted,
                "in progress" => CommitVerdict.NotYet, // the commit is running (waiting for a synchronous standby)
                _ => CommitVerdict.Unknowable,
            };
        }

        var restarted = timeline == evidence.Timeline;
        var promotedSince = timeline == evidence.Timeline + 1 && facts.PostmasterStart < evidence.TransactionStart;
        if (!restarted && !promotedSince)
        {
            return CommitVerdict.Unknowable;
        }

        if (facts.ReplayEnd is { } end && end < evidence.Lsn)
        {
            return CommitVerdict.NotCommitted; // its history forks (or was cut) before the commit record
        }

        if (facts.ReplayEnd is null && !restarted)
        {
            return CommitVerdict.Unknowable; // a promoted standby always recovered: a server without a recovery end is not one
        }

        return facts.XactStatus switch
        {
            "committed" => CommitVerdict.Committed,
            "aborted" or "future" => CommitVerdict.NotCommitted,
            _ => CommitVerdict.Unknowable, // "in progress" after a restart or promotion is a prepared transaction
        };
    }
}
