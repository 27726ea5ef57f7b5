using HaClient.Resilience;
using StackExchange.Redis;
using static HaClient.Redis.Tests.Unit.States;

namespace HaClient.Redis.Tests.Unit;

/// <summary>Three nodes whose multiplexers exist (pointed at closed local ports: nothing is ever sent) and whose circuits
/// the tests may open.</summary>
public sealed class RouterNodes : IAsyncLifetime
{
    internal RedisNode[] Nodes { get; private set; } = [];

    public async Task InitializeAsync()
    {
        Nodes = Enumerable.Range(0, 3).Select(i => new RedisNode(
            new HostEndpoint("127.0.0.1", 1 + i),
            new EndpointCircuit("router-test", $"127.0.0.1:{1 + i}", new EndpointResilienceOptions(), static _ => FailureKind.EndpointFailure, TimeProvider.System),
            e => new ConfigurationOptions { EndPoints = { { e.Host, e.Port } }, AbortOnConnectFail = false, ConnectTimeout = 200, ConnectRetry = 0 })).ToArray();
        foreach (var n in Nodes)
        {
            await n.GetMultiplexerAsync();
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var n in Nodes)
        {
            await n.DisposeAsync();
        }
    }
}

/// <summary>The Redis routing decision over hand-made topologies (pure logic; no server answers).</summary>
public class RedisRouterTests(RouterNodes fixture) : IClassFixture<RouterNodes>
{
    private const long MaxLag = 1000;

    private RedisTopology Topology(int primary, long referenceOffset, params RedisNodeState[] states)
        => Topology(primary, primary, referenceOffset, states);

    private RedisTopology Topology(int primary, int reference, long referenceOffset, params RedisNodeState[] states)
        => new(1, fixture.Nodes[..states.Length], states, primary, reference, referenceOffset);

    private static int Read(RedisTopology t, RedisReadPreference p = RedisReadPreference.ReplicaPreferred, bool fallback = true, int exclude = -1, int rotation = 0)
        => RedisRouter.SelectReader(t, p, MaxLag, fallback, exclude, rotation);

    [Fact]
    public void Writes_go_only_to_a_verified_node_whose_role_says_primary()
    {
        Assert.Equal(0, RedisRouter.SelectPrimary(Topology(0, 500, Primary(0, 500), Replica(1, 500, 0))));
        Assert.Equal(-1, RedisRouter.SelectPrimary(Topology(-1, 500, Primary(0, 500), Replica(1, 500, 0))));

        // Published as primary, but its latest probe says replica (demoted): no writes.
        Assert.Equal(-1, RedisRouter.SelectPrimary(Topology(0, 500, Replica(0, 500, 1), Primary(1, 500))));
    }

    [Fact]
    public void Reads_rotate_over_the_replicas_within_the_bound()
    {
        var t = Topology(0, 5000, Primary(0, 5000), Replica(1, 5000, 0), Replica(2, 4500, 0));
        var seen = Enumerable.Range(0, 6).Select(r => Read(t, rotation: r)).ToHashSet();
        Assert.Equal(new HashSet<int> { 1, 2 }, seen);
    }

    [Fact]
    public void A_replica_lagging_beyond_the_bound_or_with_an_unknown_offset_is_skipped()
    {
        var t = Topology(0, 5000, Primary(0, 5000), Replica(1, 3999, 0), Replica(2, -1, 0, "sync"));
        Assert.Equal(0, Read(t));
        Assert.Equal(-1, Read(t, fallback: false));
        Assert.Equal(1, Read(Topology(0, 5000, Primary(0, 5000), Replica(1, 4000, 0)), fallback: false));
    }

    [Fact]
    public void A_replica_of_another_node_serves_no_bounded_read()
    {
        // After a switchover, replica 2 still follows the old primary 0 (or was just pointed at 1 and has not synchronised):
        // its offset may look current against the new primary's, yet it lacks the new primary's writes. Failed on the old
        // code (two stale reads in the switchover drill).
        var t = Topology(1, 5000, Replica(0, 5000, 1), Primary(1, 5000, promotedFrom: Ep(0)), Replica(2, 5200, 0));
        Assert.Equal(0, Read(t, fallback: false));
        Assert.Equal(-1, Read(t, fallback: false, exclude: 0));
        Assert.Equal(1, Read(t, exclude: 0));
    }

    [Fact]
    public void In_a_failover_window_replicas_of_the_last_primary_serve_reads_against_its_last_offset()
    {
        // The primary crashed (no primary verified); its replicas hold what it had up to their offsets.
        var t = Topology(-1, 0, 5000, Down(0), Replica(1, 5000, 0), Replica(2, 3000, 0));
        Assert.Equal(1, Read(t, RedisReadPreference.PrimaryPreferred));
        Assert.Equal(1, Read(t, RedisReadPreference.ReplicaPreferred));
        Assert.Equal(-1, Read(t, RedisReadPreference.Primary));

        // No primary ever known: no reference, no bounded read.
        Assert.Equal(-1, Read(Topology(-1, -1, -1, Replica(0, 5, 2), Replica(1, 5, 2))));
    }

    [Fact]
    public void Primary_preferred_reads_go_to_the_primary_while_it_is_available()
    {
        var t = Topology(0, 5000, Primary(0, 5000), Replica(1, 5000, 0));
        Assert.Equal(0, Read(t, RedisReadPreference.PrimaryPreferred));
        Assert.Equal(0, Read(t, RedisReadPreference.Primary));
        Assert.Equal(1, Read(t, RedisReadPreference.PrimaryPreferred, exclude: 0));
        Assert.Equal(-1, Read(t, RedisReadPreference.Primary, exclude: 0));
    }

    [Fact]
    public void Retry_excludes_the_failed_node()
    {
        var t = Topology(0, 5000, Primary(0, 5000), Replica(1, 5000, 0), Replica(2, 5000, 0));
        for (var r = 0; r < 4; r++)
        {
            Assert.Equal(2, Read(t, exclude: 1, rotation: r));
        }

        var single = Topology(0, 5000, Primary(0, 5000), Replica(1, 5000, 0));
        Assert.Equal(0, Read(single, exclude: 1));
        Assert.Equal(-1, Read(single, exclude: 1, fallback: false));
    }

    [Fact]
    public async Task A_node_whose_circuit_is_open_is_skipped_for_writes_and_reads()
    {
        var nodes = fixture.Nodes;
        var circuit = new EndpointCircuit("router-test", "open", new EndpointResilienceOptions { BreakerMinimumThroughput = 2 }, static _ => FailureKind.EndpointFailure, TimeProvider.System);
        for (var i = 0; i < 4 && circuit.IsAvailable; i++)
        {
            await circuit.RecordAsync(new TimeoutException("test"));
        }

        Assert.False(circuit.IsAvailable);
        var broken = new RedisNode(Ep(9), circuit, _ => new ConfigurationOptions());
        var links = new[] { broken, nodes[1], nodes[2] };
        var t = new RedisTopology(1, links, [Primary(0, 5000), Replica(1, 5000, 0), Replica(2, 5000, 0)], 0, 0, 5000);
        Assert.Equal(-1, RedisRouter.SelectPrimary(t));
        Assert.Equal(1, Read(t, rotation: 1));
        Assert.Equal(-1, Read(t, RedisReadPreference.Primary));

        var t2 = new RedisTopology(1, [nodes[0], broken, nodes[2]], [Primary(0, 5000), Replica(1, 5000, 0), Replica(2, 5000, 0)], 0, 0, 5000);
        Assert.Equal(2, Read(t2, rotation: 1));
    }

    [Fact]
    public void Lag_bytes_are_published_against_the_reference_primary_only()
    {
        var t = Topology(1, 5000, Replica(0, 4000, 1), Primary(1, 5000), Replica(2, 4900, 0));
        Assert.Equal(1000, t.GetLagBytes(0));
        Assert.Equal(0, t.GetLagBytes(1));
        Assert.Null(t.GetLagBytes(2));
    }
}
