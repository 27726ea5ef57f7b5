using HaClient.Resilience;
using Polly.CircuitBreaker;
using Xunit;

namespace HaClient.Tests.Unit;

public class EndpointCircuitTests
{
    private static EndpointCircuit Circuit(TimeSpan breakDuration) => new("t", "h:1", new EndpointResilienceOptions
    {
        BreakerMinimumThroughput = 2,
        BreakerFailureRatio = 0.5,
        BreakerBreakDuration = breakDuration,
    }, e => e is TimeoutException);

    private static async Task FailAsync(EndpointCircuit c)
        => await Assert.ThrowsAnyAsync<Exception>(async () =>
            await c.ExecuteAsync<int, int>(static (_, _) => throw new TimeoutException(), 0, CancellationToken.None));

    [Fact]
    public async Task Endpoint_failures_open_the_circuit_and_routing_skips_it()
    {
        var c = Circuit(TimeSpan.FromMinutes(1));
        await FailAsync(c);
        await FailAsync(c);
        Assert.Equal(CircuitState.Open, c.State);
        Assert.False(c.IsAvailable);
        await Assert.ThrowsAsync<BrokenCircuitException>(async () => await c.ExecuteAsync<int, int>(static (_, _) => ValueTask.FromResult(1), 0, CancellationToken.None));
    }

    [Fact]
    public async Task An_open_circuit_is_offered_for_a_trial_call_after_the_break_and_closes_when_it_succeeds()
    {
        // Polly half-opens only when a call is attempted: the router must offer the endpoint again after the break.
        var c = Circuit(TimeSpan.FromMilliseconds(500));
        await FailAsync(c);
        await FailAsync(c);
        Assert.False(c.IsAvailable);
        Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(c.IsAvailable), TimeSpan.FromSeconds(5), pollMs: 20));
        Assert.Equal(1, await c.ExecuteAsync<int, int>(static (_, _) => ValueTask.FromResult(1), 0, CancellationToken.None));
        Assert.Equal(CircuitState.Closed, c.State);
    }

    [Fact]
    public async Task Query_errors_do_not_count_against_the_endpoint()
    {
        var c = Circuit(TimeSpan.FromMinutes(1));
        for (var i = 0; i < 5; i++)
        {
            await Assert.ThrowsAsync<InvalidOperationException>(async () =>
                await c.ExecuteAsync<int, int>(static (_, _) => throw new InvalidOperationException(), 0, CancellationToken.None));
        }

        Assert.Equal(CircuitState.Closed, c.State);
    }

    [Fact]
    public async Task Reported_outcomes_count_like_calls_run_inside_the_breaker()
    {
        // The fast path: calls that start while the circuit is closed run outside Polly and report their outcome.
        var c = Circuit(TimeSpan.FromMinutes(1));
        await c.RecordAsync(new InvalidOperationException());
        await c.RecordAsync(null);
        Assert.True(c.IsClosed);
        await c.RecordAsync(new TimeoutException());
        await c.RecordAsync(new TimeoutException());
        await c.RecordAsync(new TimeoutException());
        Assert.Equal(CircuitState.Open, c.State);
        Assert.False(c.IsClosed);
        Assert.False(c.IsAvailable);

        // A report that arrives after the circuit opened is dropped, as Polly drops a call it rejects.
        await c.RecordAsync(null);
        Assert.Equal(CircuitState.Open, c.State);
    }

    [Fact]
    public async Task A_report_that_arrives_while_half_open_is_the_trial_call()
    {
        var c = Circuit(TimeSpan.FromMilliseconds(500));
        await c.RecordAsync(new TimeoutException());
        await c.RecordAsync(new TimeoutException());
        Assert.Equal(CircuitState.Open, c.State);
        Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(c.IsAvailable), TimeSpan.FromSeconds(5), pollMs: 20));
        await c.RecordAsync(null);
        Assert.Equal(CircuitState.Closed, c.State);
    }
}
