using System.Text;
using StackExchange.Redis;
using static HaClient.Redis.Tests.Unit.States;

namespace HaClient.Redis.Tests.Unit;

/// <summary>The pure parts of Redis Cluster mode: the slot of a key, the CLUSTER SHARDS reply, merging the nodes'
/// answers, and routing by slot.</summary>
public class ClusterTests(RouterNodes fixture) : IClassFixture<RouterNodes>
{
    [Theory]
    [InlineData("123456789", 0x31C3)] // the CRC-16/XMODEM check value
    [InlineData("", 0)]
    public void Crc16_is_xmodem(string data, int crc) => Assert.Equal(crc, ClusterSlot.Crc16(Encoding.ASCII.GetBytes(data)));

    [Theory]
    [InlineData("foo", 12182)] // values from the Redis Cluster specification and CLUSTER KEYSLOT
    [InlineData("bar", 5061)]
    [InlineData("hello", 866)]
    [InlineData("{user1000}.following", 3443)]
    [InlineData("{user1000}.followers", 3443)]
    [InlineData("foo{}{bar}", 8363)] // an empty first tag: the whole key is hashed
    [InlineData("foo{{bar}}zap", 4015)] // the tag is '{bar'
    [InlineData("foo{bar}{zap}", 5061)] // only the first tag counts
    public void The_slot_follows_the_hash_tag_rules(string key, int slot) => Assert.Equal(slot, ClusterSlot.Of((RedisKey)key));

    [Fact]
    public void Binary_keys_hash_by_their_bytes()
    {
        byte[] key = [0xFF, 0x00, 0x7B, 0x61, 0x7D]; // ..{a}
        Assert.Equal(ClusterSlot.Of((RedisKey)"a"), ClusterSlot.Of((RedisKey)key));
    }

    private static RedisResult Str(string s) => RedisResult.Create((RedisValue)s);

    private static RedisResult Int(long v) => RedisResult.Create((RedisValue)v);

    private static RedisResult Arr(params RedisResult[] items) => RedisResult.Create(items);

    private static RedisResult Node(int port, string role, long offset, string health = "online")
        => Arr(Str("id"), Str($"id{port}"), Str("port"), Int(port), Str("ip"), Str("127.0.0.1"), Str("endpoint"), Str("127.0.0.1"),
            Str("role"), Str(role), Str("replication-offset"), Int(offset), Str("health"), Str(health));

    private static RedisResult Shard(int[] slots, params RedisResult[] nodes)
        => Arr(Str("slots"), Arr(slots.Select(s => Int(s)).ToArray()), Str("nodes"), Arr(nodes));

    [Fact]
    public void Cluster_shards_reply_is_parsed()
    {
        var reply = Arr(
            Shard([0, 5460], Node(17001, "master", 126), Node(17004, "replica", 120)),
            Shard([5461, 5500, 6000, 10922], Node(17002, "master", 7)),
            Shard([], Node(17009, "master", 0)));
        var shards = ClusterShardsReply.Parse(reply, tls: false);
        Assert.Equal(2, shards.Count); // a node without slots is no shard
        Assert.Equal("0-5460", shards[0].SlotText);
        Assert.Equal("5461-5500,6000-10922", shards[1].SlotText);
        Assert.Equal(new ShardNodeInfo("id17001", new HostEndpoint("127.0.0.1", 17001), true, 126, "online"), shards[0].Nodes[0]);
        Assert.False(shards[0].Nodes[1].IsPrimary);
        Assert.Equal(120, shards[0].Nodes[1].ReplicationOffset);
        Assert.Throws<FormatException>(() => ClusterShardsReply.Parse(Str("nope"), false));
    }

    private static ClusterAnswer Answer(int self, params RedisResult[] shards) => new(new HostEndpoint("127.0.0.1", self), ClusterShardsReply.Parse(Arr(shards), false));

    [Fact]
    public void The_primary_is_a_node_that_answers_and_names_itself_primary()
    {
        var healthy = Shard([0, 5460], Node(17001, "master", 100), Node(17004, "replica", 100));
        var merged = ClusterView.Merge([Answer(17001, healthy), Answer(17004, healthy)]);
        Assert.Equal(17001, Assert.Single(merged).Primary?.Port);
        Assert.Equal(2, merged[0].Members.Count);

        // The master crashed: it does not answer, and the replica still names it (not yet promoted): none is verified.
        var crashed = ClusterView.Merge([new ClusterAnswer(new HostEndpoint("127.0.0.1", 17001), null), Answer(17004, healthy)]);
        Assert.Null(Assert.Single(crashed).Primary);

        // The replica was promoted: it names itself primary; a third node still names the old one: the promoted one wins.
        var promoted = Shard([0, 5460], Node(17004, "master", 110), Node(17001, "replica", 100, "fail"));
        var view = ClusterView.Merge([Answer(17004, promoted), Answer(17002, healthy)]);
        Assert.Equal(17004, Assert.Single(view).Primary?.Port);
    }

    [Fact]
    public void A_thawed_former_primary_loses_to_the_one_most_nodes_name()
    {
        var stale = Shard([0, 5460], Node(17001, "master", 100), Node(17004, "replica", 100));
        var current = Shard([0, 5460], Node(17004, "master", 120), Node(17001, "replica", 100));
        var view = ClusterView.Merge([Answer(17001, stale), Answer(17004, current), Answer(17002, current)]);
        Assert.Equal(17004, Assert.Single(view).Primary?.Port);

        // Two claims and no majority: none is verified.
        Assert.Null(Assert.Single(ClusterView.Merge([Answer(17001, stale), Answer(17004, current)])).Primary);
    }

    private RedisTopology Topology(long reference, RedisNodeState primary, params RedisNodeState[] replicas)
    {
        RedisNodeState[] states = [primary, .. replicas];
        var shard = new RedisShard("0-99", [(0, 99)], states, primary.Role == RedisNodeRole.Primary ? 0 : -1, Enumerable.Range(1, replicas.Length).ToArray(), reference);
        var map = new short[ClusterSlot.Count];
        Array.Fill(map, (short)-1);
        map.AsSpan(0, 100).Fill(0);
        return new RedisTopology(1, fixture.Nodes[..states.Length], states, [shard], map);
    }

    [Fact]
    public void Writes_go_to_the_slots_primary_and_uncovered_slots_have_none()
    {
        var t = Topology(500, Primary(0, 500), Replica(1, 500, 0));
        Assert.Equal(0, ClusterRouter.SelectPrimary(t, 42));
        Assert.Equal(-1, ClusterRouter.SelectPrimary(t, 100)); // no shard owns it
        Assert.Equal(-1, ClusterRouter.SelectPrimary(Topology(500, Down(0), Replica(1, 500, 0)), 42));
    }

    [Fact]
    public void Reads_go_to_a_replica_within_the_bound_else_the_primary()
    {
        Assert.Equal(1, ClusterRouter.SelectReader(Topology(5000, Primary(0, 5000), Replica(1, 4000, 0)), 7, RedisReadPreference.ReplicaPreferred, 1000, true, -1, 0));
        Assert.Equal(0, ClusterRouter.SelectReader(Topology(5000, Primary(0, 5000), Replica(1, 3999, 0)), 7, RedisReadPreference.ReplicaPreferred, 1000, true, -1, 0));
        Assert.Equal(-1, ClusterRouter.SelectReader(Topology(5000, Primary(0, 5000), Replica(1, 3999, 0)), 7, RedisReadPreference.ReplicaPreferred, 1000, false, -1, 0));
        Assert.Equal(0, ClusterRouter.SelectReader(Topology(5000, Primary(0, 5000), Replica(1, 5000, 0)), 7, RedisReadPreference.Primary, 1000, true, -1, 0));

        // During the shard's failover (no primary), PrimaryPreferred reads a replica within the bound of the last offset.
        Assert.Equal(1, ClusterRouter.SelectReader(Topology(5000, Down(0), Replica(1, 5000, 0)), 7, RedisReadPreference.PrimaryPreferred, 1000, true, -1, 0));
        Assert.Equal(-1, ClusterRouter.SelectReader(Topology(5000, Down(0), Replica(1, 5000, 0)), 7, RedisReadPreference.ReplicaPreferred, 1000, true, 1, 0));
    }
}
