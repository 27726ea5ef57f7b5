using static HaClient.Redis.Tests.Unit.States;

namespace HaClient.Redis.Tests.Unit;

/// <summary>The primary election over hand-made probe results and Sentinel answers (pure logic, no server).</summary>
public class MasterElectionTests
{
    private static readonly TimeSpan Recent = TimeSpan.FromMilliseconds(100);

    private static Election Elect(RedisNodeState[] states, SentinelVotes votes, int current = -1, int? hint = null, PromotionUnderWay? promotion = null, bool follow = true)
        => MasterElection.BySentinels(states, current, votes, hint is { } h ? Ep(h) : null, promotion, follow);

    [Fact]
    public void The_named_node_is_chosen_only_when_its_role_says_primary()
    {
        RedisNodeState[] states = [Primary(0, 500), Replica(1, 500, 0), Replica(2, 500, 0)];
        Assert.Equal((0, ElectionOutcome.Named), Pick(Elect(states, Votes((0, 3)))));

        // Named, but its ROLE says replica (demoted, or Sentinels not yet reconfigured): nothing.
        states[0] = Replica(0, 500, 1);
        Assert.Equal((-1, ElectionOutcome.None), Pick(Elect(states, Votes((0, 3)))));
    }

    [Fact]
    public void Votes_are_tried_by_count_and_a_switch_master_hint_goes_first()
    {
        RedisNodeState[] states = [Primary(0, 500), Primary(1, 600), Replica(2, 500, 1)];
        Assert.Equal(1, Elect(states, Votes((0, 1), (1, 2))).Index);
        Assert.Equal(0, Elect(states, Votes((0, 2), (1, 1))).Index);
        Assert.Equal(1, Elect(states, Votes((0, 2), (1, 1)), hint: 1).Index);

        // A hint that is not (yet) primary is passed over for the votes.
        states[1] = Replica(1, 600, 0);
        Assert.Equal(0, Elect(states, Votes((0, 2)), hint: 1).Index);
    }

    [Fact]
    public void A_replica_the_leader_selected_is_followed_once_promoted_from_the_node_it_replaces()
    {
        // Manual failover: the old primary (0) still says primary and the Sentinels still name it.
        RedisNodeState[] states = [Primary(0, 900), Primary(1, 800, promotedFrom: Ep(0)), Replica(2, 800, 0)];
        var e = Elect(states, Votes((0, 3)), current: -1, promotion: new(Ep(1), Ep(0), Recent));
        Assert.Equal((1, ElectionOutcome.FollowSelected), Pick(e));
        Assert.False(e.PromotionSettled);

        // Not promoted from that node (a restart, another history): not followed, and the old one is held.
        states[1] = Primary(1, 800);
        Assert.Equal(-1, Elect(states, Votes((0, 3)), promotion: new(Ep(1), Ep(0), Recent)).Index);
    }

    [Fact]
    public void The_node_being_failed_over_is_held_from_writes_for_a_while_then_used_again()
    {
        RedisNodeState[] states = [Primary(0, 900), Replica(1, 900, 0), Replica(2, 900, 0)];
        Assert.Equal(-1, Elect(states, Votes((0, 3)), promotion: new(Ep(1), Ep(0), Recent)).Index);
        Assert.Equal(-1, Elect(states, Votes((0, 3)), hint: 0, promotion: new(Ep(1), Ep(0), Recent)).Index);

        // The failover went nowhere: after the hold the old primary takes writes again.
        Assert.Equal(0, Elect(states, Votes((0, 3)), promotion: new(Ep(1), Ep(0), MasterElection.FailoverHold + Recent)).Index);

        // Without FollowPromotedReplica nothing is held.
        Assert.Equal(0, Elect(states, Votes((0, 3)), promotion: new(Ep(1), Ep(0), Recent), follow: false).Index);
    }

    [Fact]
    public void A_promotion_is_settled_when_the_sentinels_name_its_replica_or_it_expires()
    {
        RedisNodeState[] states = [Replica(0, 900, 1), Primary(1, 950, promotedFrom: Ep(0)), Replica(2, 950, 1)];
        Assert.True(Elect(states, Votes((1, 3)), promotion: new(Ep(1), Ep(0), Recent)).PromotionSettled);
        Assert.True(Elect(states, Votes((0, 3)), promotion: new(Ep(1), Ep(0), MasterElection.PromotionLifetime + Recent)).PromotionSettled);
        Assert.False(Elect(states, Votes((0, 3)), promotion: new(Ep(1), Ep(0), Recent)).PromotionSettled);
    }

    [Fact]
    public void The_current_promoted_primary_is_kept_while_sentinels_still_name_the_one_it_replaced()
    {
        RedisNodeState[] states = [Primary(0, 900), Primary(1, 950, promotedFrom: Ep(0)), Replica(2, 950, 1)];
        Assert.Equal((1, ElectionOutcome.KeptPromoted), Pick(Elect(states, Votes((0, 2), (1, 1)), current: 1)));

        // Once no Sentinel names the replaced node, the votes decide again.
        Assert.Equal((1, ElectionOutcome.Named), Pick(Elect(states, Votes((1, 3)), current: 1)));
    }

    [Fact]
    public void A_single_replica_promoted_from_the_lost_primary_is_followed_before_the_announcement()
    {
        // The crashed primary (0) is still named; replica 1 was promoted in place from it.
        RedisNodeState[] states = [Down(0), Primary(1, 950, promotedFrom: Ep(0)), Replica(2, 950, 0)];
        Assert.Equal((1, ElectionOutcome.FollowPromoted), Pick(Elect(states, Votes((0, 3)))));

        // Only while no primary is current, only with FollowPromotedReplica, never when ambiguous.
        Assert.Equal(-1, Elect(states, Votes((0, 3)), follow: false).Index);
        states[2] = Primary(2, 950, promotedFrom: Ep(0));
        Assert.Equal(-1, Elect(states, Votes((0, 3))).Index);

        // A node that says primary without having been a replica of the lost one (restarted, emptied) is not followed.
        states[2] = Replica(2, 950, 0);
        states[1] = Primary(1, 10);
        Assert.Equal(-1, Elect(states, Votes((0, 3))).Index);
    }

    [Fact]
    public void While_no_sentinel_answers_the_current_primary_is_kept_only_while_it_says_primary()
    {
        RedisNodeState[] states = [Primary(0, 900), Replica(1, 900, 0)];
        Assert.Equal((0, ElectionOutcome.KeptWhileSilent), Pick(Elect(states, SentinelVotes.Silent, current: 0)));
        Assert.Equal(-1, Elect(states, SentinelVotes.Silent, current: -1).Index);
        states[0] = Down(0);
        Assert.Equal(-1, Elect(states, SentinelVotes.Silent, current: 0).Index);
    }

    [Fact]
    public void Without_sentinels_the_primary_with_most_replicas_then_highest_offset_wins_and_claims_are_counted()
    {
        RedisNodeState[] one = [Replica(0, 100, 1), Primary(1, 100, null, 0, 2), Replica(2, 100, 1)];
        Assert.Equal(new Election(1, ElectionOutcome.ByRole, false, 1), MasterElection.ByRole(one));

        RedisNodeState[] split = [Primary(0, 500, null, 2), Primary(1, 900), Replica(2, 100, 0)];
        Assert.Equal(new Election(0, ElectionOutcome.ByRole, false, 2), MasterElection.ByRole(split));
        split[0] = Primary(0, 500);
        Assert.Equal(1, MasterElection.ByRole(split).Index);

        RedisNodeState[] none = [Down(0), Replica(1, 5, 0)];
        Assert.Equal(new Election(-1, ElectionOutcome.None, false, 0), MasterElection.ByRole(none));
    }

    private static (int, ElectionOutcome) Pick(Election e) => (e.Index, e.Outcome);
}
