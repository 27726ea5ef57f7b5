using static HaClient.Redis.Tests.Unit.States;

namespace HaClient.Redis.Tests.Unit;

/// <summary>Redis read-your-writes tokens: their string form as input, the INFO replication parse, and the routing rule
/// (a replica that proves it holds the write, else the primary; an older history to the primary; an unknown ID ignored).</summary>
public class ConsistencyTokenTests(RouterNodes fixture) : IClassFixture<RouterNodes>
{
    private const string A = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    private const string B = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    private const string C = "cccccccccccccccccccccccccccccccccccccccc";
    private const long MaxLag = 1_000_000;

    private static RedisNodeState WithHistory(RedisNodeState s, string? id, long offset, string? id2 = null)
        => new(s.Endpoint, s.Role, s.ReplicationOffset, s.ReplicaOf, s.LinkState, s.ProbedAtTimestamp, s.ProbedAt, s.ProbeDuration, s.Error)
        {
            History = new ReplicationInfo(s.Role == RedisNodeRole.Primary, id, id2, offset),
        };

    private RedisTopology Sentinel(int primary, params RedisNodeState[] states)
        => new(1, fixture.Nodes[..states.Length], states, primary, primary < 0 ? 0 : primary, states[primary < 0 ? 0 : primary].ReplicationOffset);

    private static int After(RedisTopology t, RedisConsistencyToken token, int exclude = -1, int rotation = 0)
        => TokenRule.Knows(t, token)
            ? RedisRouter.SelectReaderAfter(t, RedisReadPreference.ReplicaPreferred, token, MaxLag, exclude, rotation)
            : RedisRouter.SelectReader(t, RedisReadPreference.ReplicaPreferred, MaxLag, true, exclude, rotation);

    [Theory]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:0", 0L)]
    [InlineData("0123456789ABCDEFabcdef0123456789abcdef01:9223372036854775807", long.MaxValue)]
    public void The_string_form_round_trips(string text, long offset)
    {
        Assert.True(RedisConsistencyToken.TryParse(text, out var t));
        Assert.Equal(offset, t.Offset);
        Assert.Equal(text.ToLowerInvariant(), t.ToString());
        Assert.Equal(t, RedisConsistencyToken.Parse(t.ToString()));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("FFFFFFFF/FFFFFFFF")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:5")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:5")]
    [InlineData("gaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:5")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:-1")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:+1")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: 1")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:9223372036854775808")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:1x")]
    public void Malformed_input_is_refused(string? text)
    {
        Assert.False(RedisConsistencyToken.TryParse(text, out var t));
        Assert.True(t.IsEmpty);
        Assert.Equal(string.Empty, t.ToString());
    }

    [Fact]
    public void The_latest_token_is_the_later_offset_on_one_history_and_the_newer_across_histories()
    {
        var a5 = new RedisConsistencyToken(A, 5);
        var a9 = new RedisConsistencyToken(A, 9);
        var b1 = new RedisConsistencyToken(B, 1);
        Assert.Equal(a9, RedisConsistencyToken.Latest(a9, a5));
        Assert.Equal(a9, RedisConsistencyToken.Latest(a5, a9));
        Assert.Equal(b1, RedisConsistencyToken.Latest(a9, b1));
        Assert.Equal(a5, RedisConsistencyToken.Latest(a5, default));
        Assert.Equal(a5, RedisConsistencyToken.Latest(default, a5));
    }

    [Fact]
    public void Info_replication_gives_a_primary_its_offset_and_a_replica_its_processed_offset()
    {
        var primary = ReplicationInfo.Parse($"# Replication\r\nrole:master\r\nconnected_slaves:1\r\nmaster_replid:{A.ToUpperInvariant()}\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:1234\r\nsecond_repl_offset:-1\r\n");
        Assert.Equal(new ReplicationInfo(true, A, null, 1234), primary);
        Assert.Equal(new RedisConsistencyToken(A, 1234), primary.ToToken());

        var replica = ReplicationInfo.Parse($"role:slave\r\nmaster_host:127.0.0.1\r\nslave_repl_offset:1200\r\nmaster_replid:{A}\r\nmaster_replid2:{B}\r\nmaster_repl_offset:1210\r\n");
        Assert.Equal(new ReplicationInfo(false, A, B, 1200), replica);
        Assert.True(replica.ToToken().IsEmpty);

        Assert.Equal(ReplicationInfo.Unknown, ReplicationInfo.Parse(null));
        Assert.Null(ReplicationInfo.Parse("role:master\r\nmaster_replid:nothex\r\n").ReplicationId);
    }

    [Fact]
    public void A_token_read_goes_to_a_replica_that_proves_it_holds_the_write_else_to_the_primary()
    {
        var t = Sentinel(0,
            WithHistory(Primary(0, 5000), A, 5000),
            WithHistory(Replica(1, 4000, 0), A, 4000),
            WithHistory(Replica(2, 4900, 0), A, 4900));
        Assert.Equal(2, After(t, new RedisConsistencyToken(A, 4500)));
        Assert.Equal(2, After(t, new RedisConsistencyToken(A, 4900)));
        Assert.Equal(0, After(t, new RedisConsistencyToken(A, 4901)));

        // Beyond what any node has shown, even the primary (written since its probe, or forged): the primary.
        Assert.Equal(0, After(t, new RedisConsistencyToken(A, long.MaxValue)));

        // Only the one replica proves it, and it is excluded (the retry): the primary.
        Assert.Equal(0, After(t, new RedisConsistencyToken(A, 4500), exclude: 2));

        // Proven replicas take turns.
        Assert.Equal(new[] { 1, 2 }, Enumerable.Range(0, 6).Select(r => After(t, new RedisConsistencyToken(A, 10), rotation: r)).Distinct().Order());
    }

    [Fact]
    public void After_a_failover_a_token_of_the_old_history_is_answered_by_the_new_primary()
    {
        // Node 1 was promoted: its new ID is B, A its previous one. Node 2 has not resynchronised and still shows A at
        // an offset past the token; it cannot prove it holds the write on the history writes go to now.
        var t = Sentinel(1,
            WithHistory(Down(0), A, 5000),
            WithHistory(Primary(1, 5000), B, 5000, id2: A),
            WithHistory(Replica(2, 4900, 1), A, 4900));
        Assert.Equal(1, After(t, new RedisConsistencyToken(A, 4000)));

        // A write on the new history, and a replica that has caught up on it.
        var caughtUp = Sentinel(1,
            WithHistory(Down(0), A, 5000),
            WithHistory(Primary(1, 5100), B, 5100, id2: A),
            WithHistory(Replica(2, 5100, 1), B, 5100));
        Assert.Equal(2, After(caughtUp, new RedisConsistencyToken(B, 5050)));
        Assert.Equal(1, After(caughtUp, new RedisConsistencyToken(A, 4000)));
    }

    [Fact]
    public void A_replica_of_another_primary_or_one_whose_history_is_unknown_proves_nothing()
    {
        var t = Sentinel(0,
            WithHistory(Primary(0, 5000), A, 5000),
            WithHistory(Replica(1, 4900, 2), A, 4900),
            Replica(2, 4900, 0));
        Assert.Equal(0, After(t, new RedisConsistencyToken(A, 100)));
    }

    [Fact]
    public void A_token_no_node_knows_is_another_deployments_and_is_ignored()
    {
        var t = Sentinel(0,
            WithHistory(Primary(0, 5000), A, 5000, id2: B),
            WithHistory(Replica(1, 4000, 0), A, 4000));
        Assert.False(TokenRule.Knows(t, new RedisConsistencyToken(C, 1)));
        Assert.True(TokenRule.Knows(t, new RedisConsistencyToken(B, 1)));
        Assert.False(TokenRule.Knows(t, default));

        // Ignored: a plain replica-preferred read, not pinned to the primary.
        Assert.Equal(1, After(t, new RedisConsistencyToken(C, long.MaxValue)));
    }

    [Fact]
    public void With_no_primary_verified_a_replica_of_the_last_primary_on_the_tokens_history_still_proves_it()
    {
        var t = Sentinel(-1,
            WithHistory(Down(0), A, 5000),
            WithHistory(Replica(1, 4900, 0), A, 4900));
        t = new RedisTopology(1, fixture.Nodes[..2], [.. t.States], -1, 0, 5000);
        Assert.Equal(1, After(t, new RedisConsistencyToken(A, 4800)));
        Assert.Equal(-1, After(t, new RedisConsistencyToken(A, 4901)));
    }

    private RedisTopology Cluster(RedisNodeState primary, params RedisNodeState[] replicas)
    {
        RedisNodeState[] states = [primary, .. replicas];
        var shard = new RedisShard("0-99", [(0, 99)], states, primary.Role == RedisNodeRole.Primary ? 0 : -1, Enumerable.Range(1, replicas.Length).ToArray(), primary.ReplicationOffset);
        var map = new short[ClusterSlot.Count];
        Array.Fill(map, (short)-1);
        map.AsSpan(0, 100).Fill(0);
        return new RedisTopology(1, fixture.Nodes[..states.Length], states, [shard], map);
    }

    private static int ClusterAfter(RedisTopology t, RedisConsistencyToken token, int slot = 7)
        => ClusterRouter.Knows(t, slot, token)
            ? ClusterRouter.SelectReaderAfter(t, slot, RedisReadPreference.ReplicaPreferred, token, MaxLag, -1, 0)
            : ClusterRouter.SelectReader(t, slot, RedisReadPreference.ReplicaPreferred, MaxLag, true, -1, 0);

    [Fact]
    public void In_cluster_mode_the_rule_holds_within_the_slots_shard_and_another_shards_token_is_ignored()
    {
        var t = Cluster(WithHistory(Primary(0, 5000), A, 5000), WithHistory(Replica(1, 4900, 0), A, 4900));
        Assert.Equal(1, ClusterAfter(t, new RedisConsistencyToken(A, 4900)));
        Assert.Equal(0, ClusterAfter(t, new RedisConsistencyToken(A, 4901)));

        // Another shard's history (C): ignored, a plain read (the replica within the bound).
        Assert.False(ClusterRouter.Knows(t, 7, new RedisConsistencyToken(C, 1)));
        Assert.Equal(1, ClusterAfter(t, new RedisConsistencyToken(C, long.MaxValue)));

        // A slot no shard owns: nothing knows the token.
        Assert.False(ClusterRouter.Knows(t, 5000, new RedisConsistencyToken(A, 1)));

        // The shard failed over: the old history's token goes to the new primary.
        var failedOver = Cluster(WithHistory(Primary(1, 5000), B, 5000, id2: A), WithHistory(Replica(0, 4900, 1), A, 4900));
        Assert.Equal(0, ClusterAfter(failedOver, new RedisConsistencyToken(A, 10)));
    }

    [Fact]
    public void The_token_decision_allocates_nothing()
    {
        var t = Sentinel(0,
            WithHistory(Primary(0, 5000), A, 5000, id2: B),
            WithHistory(Replica(1, 4000, 0), A, 4000),
            WithHistory(Replica(2, 4900, 0), A, 4900));
        var tokens = new[] { new RedisConsistencyToken(A, 4500), new RedisConsistencyToken(B, 10), new RedisConsistencyToken(C, 1) };
        for (var i = 0; i < 100; i++)
        {
            After(t, tokens[i % 3], rotation: i);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10_000; i++)
        {
            After(t, tokens[i % 3], rotation: i);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
