using BenchmarkDotNet.Attributes;
using HaClient.Redis;
using HaClient.Resilience;
using StackExchange.Redis;

namespace HaClient.Benchmarks;

/// <summary>
/// The Redis routing decision alone (<c>RedisRouter.SelectPrimary</c> / <c>RedisRouter.SelectReader</c>) over three nodes
/// in the steady state: node 0 primary, nodes 1 and 2 connected replicas of it within the lag bound, circuits closed.
/// Target: at most 100 ns and 0 B per decision, as for the Postgres router. No network: the nodes' multiplexers point
/// at closed local ports and are never used.
/// </summary>
[MemoryDiagnoser]
public class RedisRoutingBenchmarks
{
    private RedisNode[] _nodes = [];
    private RedisTopology _topology = null!;
    private int _rotation;

    [GlobalSetup]
    public async Task Setup()
    {
        var resilience = new EndpointResilienceOptions();
        _nodes = new RedisNode[3];
        var states = new RedisNodeState[3];
        var primary = new HostEndpoint("127.0.0.1", 1);
        for (var i = 0; i < _nodes.Length; i++)
        {
            var endpoint = new HostEndpoint("127.0.0.1", 1 + i);
            var circuit = new EndpointCircuit("bench", endpoint.ToString(), resilience, static _ => FailureKind.EndpointFailure, TimeProvider.System);
            _nodes[i] = new RedisNode(endpoint, circuit, e => new ConfigurationOptions { EndPoints = { { e.Host, e.Port } }, AbortOnConnectFail = false, ConnectTimeout = 200, ConnectRetry = 0 });
            await _nodes[i].GetMultiplexerAsync();
            states[i] = i == 0
                ? new RedisNodeState(endpoint, RedisNodeRole.Primary, 100_000, null, null, 1, default, TimeSpan.FromMilliseconds(1), null)
                : new RedisNodeState(endpoint, RedisNodeRole.Replica, 99_000, primary, "connected", 1, default, TimeSpan.FromMilliseconds(1), null);
        }

        _topology = new RedisTopology(1, _nodes, states, 0, 0, 100_000);
        if (Write() != 0 || Read() < 1 || PrimaryPreferred() != 0)
        {
            throw new InvalidOperationException("The routing set-up does not route as expected.");
        }
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        foreach (var n in _nodes)
        {
            await n.DisposeAsync();
        }
    }

    [Benchmark(Description = "redis write: SelectPrimary")]
    public int Write() => RedisRouter.SelectPrimary(_topology);

    [Benchmark(Description = "redis read: SelectReader(ReplicaPreferred)")]
    public int Read() => RedisRouter.SelectReader(_topology, RedisReadPreference.ReplicaPreferred, 1024 * 1024, true, -1, ++_rotation);

    [Benchmark(Description = "redis read: SelectReader(PrimaryPreferred)")]
    public int PrimaryPreferred() => RedisRouter.SelectReader(_topology, RedisReadPreference.PrimaryPreferred, 1024 * 1024, true, -1, ++_rotation);
}
