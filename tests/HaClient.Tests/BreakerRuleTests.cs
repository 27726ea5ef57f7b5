using HaClient.Resilience;
using Microsoft.Extensions.Time.Testing;
using Polly.CircuitBreaker;
using Xunit;

namespace HaClient.Tests.Unit;

/// <summary>The seed guides' breaker as options on top of Polly, on a fake clock: open after N endpoint failures in a row,
/// recover only after M successes in a row, and a break that grows while the endpoint keeps failing.</summary>
public class BreakerRuleTests
{
    private readonly FakeTimeProvider _time = new();

    private EndpointCircuit Circuit(int consecutive, int halfOpenSuccesses = 1, double growth = 1) => new("t", "h:1", new EndpointResilienceOptions
    {
        BreakerConsecutiveFailures = consecutive,
        BreakerHalfOpenSuccesses = halfOpenSuccesses,
        BreakerBreakDuration = TimeSpan.FromSeconds(60),
        BreakerBreakDurationGrowth = growth,
        BreakerMaxBreakDuration = TimeSpan.FromMinutes(10),
    }, static e => e is IOException ? FailureKind.EndpointFailure : FailureKind.ServerError, _time);

    private OperationDeadline Deadline => new(_time, TimeSpan.FromSeconds(2));

    private Task<int> Succeed(EndpointCircuit c) => c.ExecuteBoundedAsync<int, int>(static (_, _) => ValueTask.FromResult(1), 0, Deadline, CancellationToken.None).AsTask();

    private async Task Fail(EndpointCircuit c, Exception? e = null)
        => await Assert.ThrowsAnyAsync<Exception>(() => c.ExecuteBoundedAsync<int, Exception>(static (x, _) => ValueTask.FromException<int>(x), e ?? new IOException(), Deadline, CancellationToken.None).AsTask());

    private async Task FailTimes(EndpointCircuit c, int n)
    {
        for (var i = 0; i < n; i++)
        {
            await Fail(c);
        }
    }

    /// <summary>Moves the clock to the end of the current break, checking that it is exactly <paramref name="expected"/>.</summary>
    private void AssertBreakIs(EndpointCircuit c, TimeSpan expected)
    {
        Assert.Equal(BreakerState.Open, c.State);
        _time.Advance(expected - TimeSpan.FromMilliseconds(1));
        Assert.False(c.IsAvailable);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(c.IsAvailable);
    }

    [Fact]
    public async Task Five_failures_in_a_row_open_the_circuit_however_many_successes_came_before()
    {
        var c = Circuit(consecutive: 5);
        for (var i = 0; i < 100; i++)
        {
            await Succeed(c);
        }

        await FailTimes(c, 4);
        Assert.Equal(BreakerState.Closed, c.State);
        await Fail(c);
        Assert.Equal(BreakerState.Open, c.State);
        await Assert.ThrowsAsync<BrokenCircuitException>(() => Succeed(c));
    }

    [Fact]
    public async Task A_call_the_endpoint_answers_ends_the_streak()
    {
        // A success, or the query's own error (the server answered), starts the count again.
        var c = Circuit(consecutive: 5);
        await FailTimes(c, 4);
        await Succeed(c);
        await FailTimes(c, 4);
        await Fail(c, new InvalidOperationException());
        await FailTimes(c, 4);
        Assert.Equal(BreakerState.Closed, c.State);
        await Fail(c);
        Assert.Equal(BreakerState.Open, c.State);
    }

    [Fact]
    public async Task The_streak_has_no_time_window()
    {
        var c = Circuit(consecutive: 3);
        await Fail(c);
        _time.Advance(TimeSpan.FromHours(2));
        await Fail(c);
        _time.Advance(TimeSpan.FromHours(2));
        await Fail(c);
        Assert.Equal(BreakerState.Open, c.State);
    }

    [Fact]
    public async Task One_failure_is_enough_when_the_rule_says_one()
    {
        var c = Circuit(consecutive: 1);
        await Fail(c);
        Assert.Equal(BreakerState.Open, c.State);
    }

    [Fact]
    public async Task After_the_break_it_recovers_only_after_three_successes_in_a_row()
    {
        var c = Circuit(consecutive: 5, halfOpenSuccesses: 3, growth: 2);
        await FailTimes(c, 5);
        AssertBreakIs(c, TimeSpan.FromSeconds(60));
        await Succeed(c); // the half-open trial closes the circuit: probation starts
        Assert.Equal(BreakerState.Closed, c.State);
        await Succeed(c);
        await Fail(c);    // one failure on probation breaks again at once, for twice as long
        AssertBreakIs(c, TimeSpan.FromSeconds(120));
        await Fail(c);    // a failed trial: longer still
        AssertBreakIs(c, TimeSpan.FromSeconds(240));
        await Succeed(c);
        await Succeed(c);
        await Succeed(c); // three in a row: recovered, the count and the break start again
        await FailTimes(c, 4);
        Assert.Equal(BreakerState.Closed, c.State);
        await Fail(c);
        AssertBreakIs(c, TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task Probation_applies_to_the_failure_ratio_rule_too()
    {
        var c = new EndpointCircuit("t", "h:1", new EndpointResilienceOptions
        {
            BreakerMinimumThroughput = 4,
            BreakerFailureRatio = 0.5,
            BreakerBreakDuration = TimeSpan.FromSeconds(5),
            BreakerHalfOpenSuccesses = 3,
        }, static e => e is IOException ? FailureKind.EndpointFailure : FailureKind.ServerError, _time);
        await FailTimes(c, 4);
        AssertBreakIs(c, TimeSpan.FromSeconds(5));
        await Succeed(c);
        await Succeed(c);
        await Fail(c); // under the ratio rule alone one failure in three would not open it
        AssertBreakIs(c, TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task The_monitor_s_reset_is_recovery_without_probation()
    {
        var c = Circuit(consecutive: 2, halfOpenSuccesses: 3, growth: 2);
        await FailTimes(c, 2);
        Assert.Equal(BreakerState.Open, c.State);
        await c.ResetAsync();
        Assert.Equal(BreakerState.Closed, c.State);
        await Fail(c);
        Assert.Equal(BreakerState.Closed, c.State);
        await Fail(c);
        AssertBreakIs(c, TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task By_default_one_successful_trial_closes_the_circuit_for_good()
    {
        // Defaults: the ratio rule, one success after the break (Polly's own behaviour).
        var c = new EndpointCircuit("t", "h:1", new EndpointResilienceOptions { BreakerMinimumThroughput = 2 },
            static e => e is IOException ? FailureKind.EndpointFailure : FailureKind.ServerError, _time);
        await FailTimes(c, 2);
        AssertBreakIs(c, new EndpointResilienceOptions().BreakerBreakDuration);
        await Succeed(c);
        await Fail(c); // 1 failure of 2 calls since the close: not enough for the ratio rule, and no probation
        Assert.Equal(BreakerState.Closed, c.State);
    }
}
