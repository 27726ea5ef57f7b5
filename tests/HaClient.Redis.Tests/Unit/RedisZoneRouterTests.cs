using HaClient.Resilience;
using HaClient.Routing;
using StackExchange.Redis;
using static HaClient.Redis.Tests.Unit.States;

namespace HaClient.Redis.Tests.Unit;

/// <summary>Three nodes with zones as <see cref="RedisDeployment"/> gives them (node 0 and node 2 in zone a, node 1 in
/// zone b, local zone a), whose multiplexers point at closed local ports (nothing is ever sent).</summary>
public sealed class ZonedRouterNodes : IAsyncLifetime
{
    internal RedisNode[] Nodes { get; private set; } = [];

    public async Task InitializeAsync()
    {
        var zones = ZoneLayout.Resolve(
            new Dictionary<string, IList<string>> { ["a"] = ["127.0.0.1:1", "127.0.0.1:3"], ["b"] = ["127.0.0.1:2"] }, "a", ZonePolicy.PreferLocal, null, 6379, string.Empty, [])!;
        Nodes = Enumerable.Range(0, 3).Select(i =>
        {
            var e = new HostEndpoint("127.0.0.1", 1 + i);
            return new RedisNode(
                e,
                new EndpointCircuit("zone-router-test", e.ToString(), new EndpointResilienceOptions(), static _ => FailureKind.EndpointFailure, TimeProvider.System),
                ep => new ConfigurationOptions { EndPoints = { { ep.Host, ep.Port } }, AbortOnConnectFail = false, ConnectTimeout = 200, ConnectRetry = 0 })
            {
                Zone = zones.ZoneOf(e),
                ZoneRank = zones.RankOf(e),
                IsLocal = zones.IsLocal(e),
            };
        }).ToArray();
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

/// <summary>Zone order and latency tiers of Redis replica reads (pure logic over hand-made topologies).</summary>
public class RedisZoneRouterTests(ZonedRouterNodes fixture) : IClassFixture<ZonedRouterNodes>
{
    private RedisTopology Topology(params RedisNodeState[] states) => new(1, fixture.Nodes, states, 0, 0, 500);

    private static int Read(RedisTopology t, int rotation, bool localOnly = false)
        => RedisRouter.SelectReader(t, RedisReadPreference.ReplicaPreferred, 1000, true, -1, rotation, localOnly);

    [Fact]
    public void Replica_reads_stay_in_the_local_zone_then_spill_over_or_with_local_only_go_to_a_local_primary()
    {
        foreach (var n in fixture.Nodes)
        {
            Volatile.Write(ref n.ResponseTicks, 0);
        }

        var healthy = Topology(Primary(0, 500), Replica(1, 500, 0), Replica(2, 500, 0));
        Assert.All(Enumerable.Range(0, 6), r => Assert.Equal(2, Read(healthy, r)));
        Assert.Equal("b", fixture.Nodes[1].Zone);

        var localDown = Topology(Primary(0, 500), Replica(1, 500, 0), Down(2));
        Assert.All(Enumerable.Range(0, 6), r => Assert.Equal(1, Read(localDown, r)));
        Assert.All(Enumerable.Range(0, 6), r => Assert.Equal(0, Read(localDown, r, localOnly: true)));
    }

    [Fact]
    public void Within_a_zone_a_much_slower_replica_is_avoided_and_close_ones_take_turns()
    {
        Assert.Equal(ReadChoice.Tier(TimeSpan.FromMilliseconds(0.3).Ticks), ReadChoice.Tier(TimeSpan.FromMilliseconds(0.45).Ticks));
        Assert.True(ReadChoice.Tier(TimeSpan.FromMilliseconds(20).Ticks) > ReadChoice.Tier(TimeSpan.FromMilliseconds(0.45).Ticks));

        // Node 2 (zone a) slowed and node 0 (zone a) a replica too: reads avoid node 2.
        var t = new RedisTopology(1, fixture.Nodes, [Replica(0, 500, 1), Primary(1, 500), Replica(2, 500, 1)], 1, 1, 500);
        Volatile.Write(ref fixture.Nodes[0].ResponseTicks, TimeSpan.FromMilliseconds(0.4).Ticks);
        Volatile.Write(ref fixture.Nodes[2].ResponseTicks, TimeSpan.FromMilliseconds(20).Ticks);
        Assert.All(Enumerable.Range(0, 6), r => Assert.Equal(0, Read(t, r)));

        // As fast again (the same tier): they take turns.
        Volatile.Write(ref fixture.Nodes[2].ResponseTicks, TimeSpan.FromMilliseconds(0.45).Ticks);
        Assert.Equal([0, 2], Enumerable.Range(0, 6).Select(r => Read(t, r)).Distinct().Order());
        foreach (var n in fixture.Nodes)
        {
            Volatile.Write(ref n.ResponseTicks, 0);
        }
    }

    [Fact]
    public void Zone_settings_are_validated_and_named()
    {
        static List<string> Errors(Action<RedisOptions> configure)
        {
            var o = new RedisOptions { Sentinels = ["127.0.0.1:16479"], ServiceName = "haclient" };
            configure(o);
            var result = new RedisOptionsValidator().Validate(null, o);
            return result.Failed ? result.Failures.ToList() : [];
        }

        Assert.Empty(Errors(o => { o.Zones["a"] = ["127.0.0.1:16379"]; o.LocalZone = "a"; }));
        Assert.Contains("ZonePolicy: LocalOnly needs LocalZone (the application's zone).", Errors(o => o.ZonePolicy = ZonePolicy.LocalOnly));
        Assert.Contains(Errors(o => { o.Zones["a"] = ["127.0.0.1:x"]; }), e => e.StartsWith("Zones:a[0]: ", StringComparison.Ordinal));
        Assert.Contains("LocalZone: 'c' is not one of the zones in Zones (a).", Errors(o => { o.Zones["a"] = ["127.0.0.1:16379"]; o.LocalZone = "c"; }));
        Assert.Equal(ZonePolicy.PreferLocal, new RedisOptions().ZonePolicy);
        Assert.Empty(new RedisOptions().Zones);
    }
}
