using HaClient.Resilience;
using Microsoft.Extensions.Time.Testing;
using Polly.CircuitBreaker;
using Xunit;

namespace HaClient.Tests.Unit;

/// <summary>The breaker's rules on a fake clock: what counts against an endpoint, when it opens, when routing offers it
/// again, and the deadline that releases a caller.</summary>
public class EndpointCircuitTests
{
    private readonly FakeTimeProvider _time = new();

    private EndpointCircuit Circuit(TimeSpan breakDuration) => new("t", "h:1", new EndpointResilienceOptions
    {
        BreakerMinimumThroughput = 2,
        BreakerFailureRatio = 0.5,
        BreakerBreakDuration = breakDuration,
    }, Classify, _time);

    /// <summary>A store's classifier in miniature: IOException is an endpoint failure, InsufficientExecutionStackException
    /// stands for overload (53300), anything else is the query's own error.</summary>
    private static FailureKind Classify(Exception e) => e switch
    {
        IOException => FailureKind.EndpointFailure,
        InsufficientExecutionStackException => FailureKind.Overload,
        _ => FailureKind.ServerError,
    };

    private async Task FailAsync(EndpointCircuit c, Exception e)
        => await Assert.ThrowsAnyAsync<Exception>(async () =>
            await c.ExecuteBoundedAsync<int, Exception>(static (ex, _) => ValueTask.FromException<int>(ex), e, Deadline(TimeSpan.FromSeconds(2)), CancellationToken.None));

    private async Task<int> SucceedAsync(EndpointCircuit c)
        => await c.ExecuteBoundedAsync<int, int>(static (_, _) => ValueTask.FromResult(1), 0, Deadline(TimeSpan.FromSeconds(2)), CancellationToken.None);

    private OperationDeadline Deadline(TimeSpan budget) => new(_time, budget);

    [Fact]
    public async Task Endpoint_failures_open_the_circuit_and_routing_skips_it()
    {
        var c = Circuit(TimeSpan.FromMinutes(1));
        await FailAsync(c, new IOException());
        await FailAsync(c, new IOException());
        Assert.Equal(BreakerState.Open, c.State);
        Assert.False(c.IsAvailable);
        await Assert.ThrowsAsync<BrokenCircuitException>(() => SucceedAsync(c));
    }

    [Fact]
    public async Task An_open_circuit_is_offered_for_a_trial_call_exactly_when_the_break_ends_and_closes_when_it_succeeds()
    {
        // Polly half-opens only when a call is attempted: the router must offer the endpoint again after the break.
        var c = Circuit(TimeSpan.FromSeconds(5));
        await FailAsync(c, new IOException());
        await FailAsync(c, new IOException());
        _time.Advance(TimeSpan.FromSeconds(4.9));
        Assert.False(c.IsAvailable);
        _time.Advance(TimeSpan.FromMilliseconds(100));
        Assert.True(c.IsAvailable);
        Assert.Equal(1, await SucceedAsync(c));
        Assert.Equal(BreakerState.Closed, c.State);
    }

    [Fact]
    public async Task Query_errors_do_not_count_against_the_endpoint()
    {
        var c = Circuit(TimeSpan.FromMinutes(1));
        for (var i = 0; i < 5; i++)
        {
            await FailAsync(c, new InvalidOperationException());
        }

        Assert.Equal(BreakerState.Closed, c.State);
    }

    [Fact]
    public async Task Overload_never_opens_the_circuit()
    {
        // A server that refuses connections for being full (53300) is healthy: cutting it off would turn a burst into an
        // outage.
        var c = Circuit(TimeSpan.FromMinutes(1));
        for (var i = 0; i < 20; i++)
        {
            await Assert.ThrowsAsync<InsufficientExecutionStackException>(async () =>
                await c.ExecuteBoundedAsync<int, int>(static (_, _) => ValueTask.FromException<int>(new InsufficientExecutionStackException()), 0, Deadline(TimeSpan.FromSeconds(1)), CancellationToken.None));
        }

        Assert.Equal(BreakerState.Closed, c.State);
        Assert.True(c.IsAvailable);
    }

    [Fact]
    public async Task A_call_is_released_at_its_deadline_and_the_expiry_never_counts_against_the_endpoint()
    {
        var c = Circuit(TimeSpan.FromMinutes(1));
        var calls = new List<TaskCompletionSource<int>>();
        for (var i = 0; i < 6; i++)
        {
            var never = new TaskCompletionSource<int>();
            calls.Add(never);
            var pending = c.ExecuteBoundedAsync(static (t, _) => new ValueTask<int>(t.Task), never, Deadline(TimeSpan.FromSeconds(2)), CancellationToken.None).AsTask();
            _time.Advance(TimeSpan.FromSeconds(1.9));
            Assert.False(pending.IsCompleted);
            _time.Advance(TimeSpan.FromMilliseconds(100));
            var e = await Assert.ThrowsAsync<OperationDeadlineExceededException>(() => pending);
            Assert.Equal(TimeSpan.FromSeconds(2), e.Budget);
        }

        Assert.Equal(BreakerState.Closed, c.State);
    }

    [Fact]
    public async Task A_timeout_the_driver_throws_itself_is_the_call_s_own_failure()
    {
        // Exact classification: only a call that had not ended at the deadline is the caller's expiry.
        var c = Circuit(TimeSpan.FromMinutes(1));
        var e = await Assert.ThrowsAsync<IOException>(async () =>
            await c.ExecuteBoundedAsync<int, int>(static (_, _) => ValueTask.FromException<int>(new IOException()), 0, Deadline(TimeSpan.FromSeconds(2)), CancellationToken.None));
        Assert.IsNotType<OperationDeadlineExceededException>(e);
        await Assert.ThrowsAsync<IOException>(async () =>
            await c.ExecuteBoundedAsync<int, int>(static (_, _) => ValueTask.FromException<int>(new IOException()), 0, Deadline(TimeSpan.FromSeconds(2)), CancellationToken.None));
        Assert.Equal(BreakerState.Open, c.State);
    }

    [Fact]
    public async Task Reported_outcomes_count_like_calls_run_inside_the_breaker()
    {
        // The fast path: calls that start while the circuit is closed run outside Polly and report their outcome.
        var c = Circuit(TimeSpan.FromMinutes(1));
        await c.RecordAsync(new InvalidOperationException());
        await c.RecordAsync(null);
        Assert.True(c.IsClosed);
        await c.RecordAsync(new IOException());
        await c.RecordAsync(new IOException());
        await c.RecordAsync(new IOException());
        Assert.Equal(BreakerState.Open, c.State);
        Assert.False(c.IsClosed);
        Assert.False(c.IsAvailable);

        // A report that arrives after the circuit opened is dropped, as Polly drops a call it rejects.
        await c.RecordAsync(null);
        Assert.Equal(BreakerState.Open, c.State);
    }

    [Fact]
    public async Task A_report_that_arrives_while_half_open_is_the_trial_call()
    {
        var c = Circuit(TimeSpan.FromSeconds(5));
        await c.RecordAsync(new IOException());
        await c.RecordAsync(new IOException());
        Assert.Equal(BreakerState.Open, c.State);
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.True(c.IsAvailable);
        await c.RecordAsync(null);
        Assert.Equal(BreakerState.Closed, c.State);
    }

    [Fact]
    public async Task Calls_in_flight_on_an_endpoint_that_went_down_are_released_before_their_deadline()
    {
        var c = Circuit(TimeSpan.FromMinutes(1));
        var started = new TaskCompletionSource();
        var pending = c.ExecuteBoundedAsync(static async (s, ct) =>
        {
            s.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
            return 0;
        }, started, Deadline(TimeSpan.FromSeconds(2)), CancellationToken.None).AsTask();
        await started.Task;
        Assert.Equal(1, c.AbandonInFlight());

        // The fake clock never moves: only the abandonment can end the call.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(0, c.AbandonInFlight());
    }

    [Fact]
    public async Task A_call_that_ended_is_no_longer_in_flight()
    {
        var c = Circuit(TimeSpan.FromMinutes(1));
        Assert.Equal(1, await c.ExecuteBoundedAsync<int, int>(static (_, _) => ValueTask.FromResult(1), 0, Deadline(TimeSpan.FromSeconds(2)), CancellationToken.None));
        Assert.Equal(0, c.AbandonInFlight());
    }

    [Fact]
    public async Task With_growth_each_failed_trial_doubles_the_break_up_to_the_cap_and_a_success_starts_again()
    {
        var c = new EndpointCircuit("t", "h:1", new EndpointResilienceOptions
        {
            BreakerMinimumThroughput = 2,
            BreakerFailureRatio = 0.5,
            BreakerBreakDuration = TimeSpan.FromSeconds(5),
            BreakerBreakDurationGrowth = 2,
            BreakerMaxBreakDuration = TimeSpan.FromSeconds(15),
        }, Classify, _time);
        await c.RecordAsync(new IOException());
        await c.RecordAsync(new IOException());
        foreach (var expected in new[] { 5.0, 10.0, 15.0, 15.0 })
        {
            Assert.Equal(BreakerState.Open, c.State);
            _time.Advance(TimeSpan.FromSeconds(expected) - TimeSpan.FromMilliseconds(1));
            Assert.False(c.IsAvailable);
            _time.Advance(TimeSpan.FromMilliseconds(1));
            Assert.True(c.IsAvailable);
            await FailAsync(c, new IOException()); // the trial call fails: open again, for longer
        }

        _time.Advance(TimeSpan.FromSeconds(15));
        Assert.Equal(1, await SucceedAsync(c));
        Assert.Equal(BreakerState.Closed, c.State);
        await c.RecordAsync(new IOException());
        await c.RecordAsync(new IOException());
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.True(c.IsAvailable);
    }

    [Fact]
    public async Task Without_growth_every_break_is_the_same()
    {
        var c = Circuit(TimeSpan.FromSeconds(5));
        await c.RecordAsync(new IOException());
        await c.RecordAsync(new IOException());
        for (var i = 0; i < 3; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(5));
            Assert.True(c.IsAvailable);
            await FailAsync(c, new IOException());
            Assert.False(c.IsAvailable);
        }
    }

    [Fact]
    public void A_deadline_runs_on_its_clock()
    {
        var d = Deadline(TimeSpan.FromSeconds(2));
        Assert.Equal(TimeSpan.FromSeconds(2), d.Remaining);
        _time.Advance(TimeSpan.FromSeconds(1.5));
        Assert.Equal(TimeSpan.FromSeconds(0.5), d.Remaining);
        Assert.False(d.IsExpired);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(d.IsExpired);
        Assert.Equal(TimeSpan.Zero, d.Remaining);
        Assert.Equal(TimeSpan.FromSeconds(2.5), d.Elapsed);
    }
}
