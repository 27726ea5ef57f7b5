using HaClient.Failover;
using Xunit;

namespace HaClient.Postgres.Tests.Unit;

/// <summary>The rules that decide a lost commit (<see cref="CommitDecision"/>), above all the trap: a server that never
/// saw the transaction's records may have handed its ID to another transaction, so its status for that ID proves
/// nothing.</summary>
public class CommitDecisionTests
{
    private static readonly DateTime Started = new(2026, 12, 1, 9, 0, 0, DateTimeKind.Utc);
    private static readonly DateTime TxStart = Started.AddHours(3);
    private static readonly CommitEvidence Evidence = new(Xid: 1000, Lsn: 0x5000, Timeline: 2, SystemIdentifier: "7714", PostmasterStart: Started, TransactionStart: TxStart);

    private static PrimaryFacts Same(string? status) => new("7714", false, Started, 2, null, status);

    private static PrimaryFacts Promoted(ulong? replayEnd, string? status, DateTime? started = null) => new("7714", false, started ?? Started.AddMinutes(-5), 3, replayEnd, status);

    [Theory]
    [InlineData("committed", CommitVerdict.Committed)]
    [InlineData("aborted", CommitVerdict.NotCommitted)]
    [InlineData("in progress", CommitVerdict.NotYet)]
    [InlineData(null, CommitVerdict.Unknowable)]
    public void On_the_same_server_instance_the_status_is_the_transaction_s(string? status, CommitVerdict expected)
        => Assert.Equal(expected, CommitDecision.Decide(Evidence, Same(status)));

    [Fact]
    public void A_standby_promoted_before_it_received_the_transaction_reports_not_committed_even_when_it_reused_the_id()
    {
        // Asynchronous mode: the standby's history ends at 0x4000, before the evidence's 0x5000. It has since handed ID
        // 1000 to a transaction of its own, which committed: the status is about that one, not ours.
        Assert.Equal(CommitVerdict.NotCommitted, CommitDecision.Decide(Evidence, Promoted(0x4000, "committed")));
        Assert.Equal(CommitVerdict.NotCommitted, CommitDecision.Decide(Evidence, Promoted(0x4000, "future")));
    }

    [Theory]
    [InlineData("committed", CommitVerdict.Committed)]
    [InlineData("aborted", CommitVerdict.NotCommitted)]
    [InlineData("future", CommitVerdict.NotCommitted)]
    [InlineData("in progress", CommitVerdict.Unknowable)]
    public void A_standby_promoted_after_it_replayed_past_the_evidence_tells_the_truth(string status, CommitVerdict expected)
        => Assert.Equal(expected, CommitDecision.Decide(Evidence, Promoted(0x5000, status)));

    [Fact]
    public void A_promoted_server_that_restarted_since_the_transaction_began_cannot_prove_where_its_history_forked()
        => Assert.Equal(CommitVerdict.Unknowable, CommitDecision.Decide(Evidence, Promoted(0x9000, "committed", started: TxStart.AddSeconds(2))));

    [Fact]
    public void Two_promotions_since_are_beyond_what_the_evidence_can_follow()
        => Assert.Equal(CommitVerdict.Unknowable, CommitDecision.Decide(Evidence, new PrimaryFacts("7714", false, Started, 4, 0x9000, "committed")));

    [Theory]
    [InlineData(0x4fffUL, "committed", CommitVerdict.NotCommitted)] // the crash lost WAL before the commit record
    [InlineData(0x6000UL, "committed", CommitVerdict.Committed)]
    [InlineData(0x6000UL, "aborted", CommitVerdict.NotCommitted)]
    public void The_old_primary_restarted_after_a_crash_is_judged_by_where_its_recovery_ended(ulong replayEnd, string status, CommitVerdict expected)
        => Assert.Equal(expected, CommitDecision.Decide(Evidence, new PrimaryFacts("7714", false, TxStart.AddSeconds(3), 2, replayEnd, status)));

    [Fact]
    public void Another_deployment_or_a_standby_answers_nothing()
    {
        Assert.Equal(CommitVerdict.Unknowable, CommitDecision.Decide(Evidence, Same("committed") with { SystemIdentifier = "9999" }));
        Assert.Equal(CommitVerdict.NotYet, CommitDecision.Decide(Evidence, new PrimaryFacts("7714", true, Started, null, 0x9000, "committed")));
    }

    [Fact]
    public void A_transaction_that_was_never_assigned_an_id_wrote_nothing_and_its_result_stands()
        => Assert.Equal(CommitVerdict.Committed, CommitDecision.Decide(Evidence with { Xid = null }, default));
}
