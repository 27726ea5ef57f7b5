using HaClient.Postgres;
using HaClient.Resilience;
using Npgsql;
using Xunit;

namespace HaClient.Postgres.Tests.Unit;

/// <summary>A host's state carries its breaker, read live: a breaker that opens after the probe shows at once.</summary>
public class HostBreakerStateTests
{
    [Fact]
    public async Task The_published_state_reports_the_host_s_breaker_as_it_is_now()
    {
        var ep = new HostEndpoint("127.0.0.1", 1);
        var circuit = new EndpointCircuit("t", ep.ToString(), new EndpointResilienceOptions { BreakerMinimumThroughput = 2 }, _ => FailureKind.EndpointFailure, TimeProvider.System);
        await using var pool = NpgsqlDataSource.Create("Host=127.0.0.1;Port=1");
        var slot = new HostSlot(0, ep, pool, pool, circuit);
        Assert.Equal(BreakerState.Closed, slot.State.Breaker);
        var published = slot.State = new PostgresHostState(ep, PostgresRole.Primary, 1, 1, null, 1, DateTimeOffset.UnixEpoch, TimeSpan.Zero, null);
        await circuit.RecordAsync(new IOException());
        await circuit.RecordAsync(new IOException());
        Assert.Equal(BreakerState.Open, published.Breaker);
    }
}
