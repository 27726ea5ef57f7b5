using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using HaClient.Postgres;
using HaClient.Resilience;
using Npgsql;

namespace HaClient.Benchmarks;

/// <summary>
/// The routing decision alone (<c>Router.SelectPrimary</c> / <c>Router.SelectReader</c>) over three host slots in the
/// steady state: host 0 primary, hosts 1 and 2 streaming replicas with zero lag, probed "now", circuits closed. With
/// zones and latency weighting (issue 15): hosts 0 and 1 in the local zone, host 2 in another, each with a smoothed
/// response time and calls in flight, so every decision ranks zones and computes scores. Target: at most 100 ns and 0 B
/// per decision. No network: the slots' data sources are never opened.
/// </summary>
[MemoryDiagnoser]
public class RoutingBenchmarks
{
    private HostSlot[] _slots = null!;
    private ReplicaLagPolicy _lag = null!;
    private ReadConsistency _afterToken;
    private long _now;
    private int _rotation;

    [GlobalSetup]
    public void Setup()
    {
        var resilience = new EndpointResilienceOptions();
        _now = Stopwatch.GetTimestamp();
        _slots = new HostSlot[3];
        for (var i = 0; i < _slots.Length; i++)
        {
            var endpoint = new HostEndpoint("127.0.0.1", 15432 + i);
            var pool = NpgsqlDataSource.Create($"Host=127.0.0.1;Port={15432 + i};Username=u;Password=p;Database=d");
            var circuit = new EndpointCircuit("bench", endpoint.ToString(), resilience, static _ => FailureKind.EndpointFailure, TimeProvider.System);
            _slots[i] = new HostSlot(i, endpoint, pool, pool, circuit)
            {
                Zone = i < 2 ? "a" : "b",
                ZoneRank = i < 2 ? 0 : 1,
                IsLocal = i < 2,
                ResponseTicks = TimeSpan.FromMilliseconds(0.4 + i).Ticks,
                InFlight = i,
                State = i == 0
                    ? new PostgresHostState(endpoint, PostgresRole.Primary, 1, 0x3000100, null, _now, default, TimeSpan.FromMilliseconds(1), null)
                    : new PostgresHostState(endpoint, PostgresRole.Replica, 1, 0x3000100, 0.0, _now, default, TimeSpan.FromMilliseconds(1), null)
                    {
                        // Caught up as of now (the monitor sets this from the primary's sampled WAL positions).
                        CurrentAsOfTimestamp = _now,
                    },
            };
        }

        _lag = new ReplicaLagPolicy { MaxLagTime = TimeSpan.FromSeconds(5) };
        _afterToken = ReadConsistency.AtLeast(new ConsistencyToken(0x3000000));
        if (Write() != 0 || Read() != 1 || ReadAfterToken() != 1 || ReadLocalOnly() != 1)
        {
            throw new InvalidOperationException("The routing set-up does not route as expected.");
        }
    }

    [Benchmark(Description = "write: SelectPrimary")]
    public int Write() => Router.SelectPrimary(_slots, 0);

    [Benchmark(Description = "read: SelectReader(WithinLagBound)")]
    public int Read() => Router.SelectReader(_slots, 0, ReadConsistency.WithinLagBound, _lag, true, _now, Stopwatch.Frequency, -1, ++_rotation);

    [Benchmark(Description = "read, LocalOnly: SelectReader(WithinLagBound)")]
    public int ReadLocalOnly() => Router.SelectReader(_slots, 0, ReadConsistency.WithinLagBound, _lag, true, _now, Stopwatch.Frequency, -1, ++_rotation, localOnly: true);

    [Benchmark(Description = "read-after-token: SelectReader(AtLeast)")]
    public int ReadAfterToken() => Router.SelectReader(_slots, 0, _afterToken, _lag, true, _now, Stopwatch.Frequency, -1, ++_rotation);
}
