using Xunit;

namespace HaClient.Postgres.Tests.Unit;

/// <summary>The leader HaClient believes from Patroni's REST endpoints (<see cref="PatroniLeaderVote"/>): a member cut off
/// from the DCS may still call itself leader; the majority of the answers decides.</summary>
public class PatroniLeaderVoteTests
{
    private static readonly HostEndpoint P1 = new("10.213.0.11", 5432);
    private static readonly HostEndpoint P3 = new("10.213.0.13", 5432);

    private static PatroniAnswer Says(HostEndpoint? leader) => new(true, leader);

    [Fact]
    public void The_old_leader_naming_itself_is_outvoted_by_the_members_that_reach_the_DCS()
    {
        // The old code believed the first address that answered: p1's own, stale view.
        var v = PatroniLeaderVote.Decide([Says(P1), Says(P3), Says(P3)]);
        Assert.True(v.Answered);
        Assert.Equal(P3, v.Leader);
    }

    [Fact]
    public void Two_answers_that_disagree_veto_every_member()
    {
        var v = PatroniLeaderVote.Decide([Says(P1), PatroniAnswer.Silent, Says(P3)]);
        Assert.True(v.Answered);
        Assert.Null(v.Leader);
    }

    [Fact]
    public void A_majority_that_names_no_leader_vetoes_every_member()
    {
        var v = PatroniLeaderVote.Decide([Says(P1), Says(null), Says(null)]);
        Assert.True(v.Answered);
        Assert.Null(v.Leader);
    }

    [Fact]
    public void The_endpoints_that_answer_decide_when_the_others_are_silent()
    {
        Assert.Equal(P3, PatroniLeaderVote.Decide([PatroniAnswer.Silent, Says(P3), Says(P3)]).Leader);
        Assert.Equal(P1, PatroniLeaderVote.Decide([Says(P1), PatroniAnswer.Silent, PatroniAnswer.Silent]).Leader);
    }

    [Fact]
    public void No_answer_vetoes_nothing()
    {
        var v = PatroniLeaderVote.Decide([PatroniAnswer.Silent, PatroniAnswer.Silent, PatroniAnswer.Silent]);
        Assert.False(v.Answered);
        Assert.Null(v.Leader);
        Assert.False(PatroniLeaderVote.Decide([]).Answered);
    }

    [Fact]
    public void Unanimous_answers_name_their_leader()
        => Assert.Equal(P1, PatroniLeaderVote.Decide([Says(P1), Says(P1), Says(P1)]).Leader);

    [Fact]
    public void Two_of_three_agreeing_settle_the_round_without_waiting_for_the_third()
    {
        Assert.True(PatroniLeaderVote.TrySettle([PatroniAnswer.Silent, Says(P3), Says(P3)], out var v));
        Assert.Equal(P3, v.Leader);
        Assert.Equal(v, PatroniLeaderVote.Decide([Says(P1), Says(P3), Says(P3)]));
    }

    [Fact]
    public void One_answer_of_three_does_not_settle_the_round()
    {
        Assert.False(PatroniLeaderVote.TrySettle([Says(P1), PatroniAnswer.Silent, PatroniAnswer.Silent], out _));
        Assert.False(PatroniLeaderVote.TrySettle([Says(P1), Says(P3), PatroniAnswer.Silent], out _));
    }
}
