using System.Diagnostics;
using HaClient.Monitoring;
using HaClient.Resilience;
using Xunit;

namespace HaClient.Tests.Unit;

/// <summary>On the system clock a bounded call is released at its deadline by HaClient's deadline thread, not by a
/// timer callback that waits for a thread-pool thread.</summary>
public class DeadlineThreadTests
{
    private static EndpointCircuit Circuit() => new("t", "h:1", new EndpointResilienceOptions(), static _ => FailureKind.EndpointFailure, TimeProvider.System);

    private static Task<int> NeverEnding(EndpointCircuit circuit, TimeSpan budget)
        => circuit.ExecuteBoundedAsync(static (t, _) => new ValueTask<int>(t.Task), new TaskCompletionSource<int>(), new OperationDeadline(TimeProvider.System, budget), CancellationToken.None).AsTask();

    /// <summary>Waits for <paramref name="task"/> on this thread (not through the pool) for at most
    /// <paramref name="timeout"/>; returns the time it took.</summary>
    private static TimeSpan BlockUntilDone(Task task, Stopwatch clock, TimeSpan timeout)
    {
        ((IAsyncResult)task).AsyncWaitHandle.WaitOne(timeout);
        return clock.Elapsed;
    }

    /// <summary>Runs <paramref name="test"/> while blocking work items hold every thread-pool thread (bounded: each
    /// blocks at most 3 s, and all are let go when the test ends).</summary>
    private static void WhilePoolIsSaturated(Action<int> test)
    {
        ThreadPool.GetMinThreads(out var minWorkers, out _);
        var blockers = Math.Max(64, minWorkers * 4);
        // Not disposed: blockers still queued when the test ends run later and return at once.
        var release = new ManualResetEventSlim();
        var running = 0;
        for (var i = 0; i < blockers; i++)
        {
            ThreadPool.UnsafeQueueUserWorkItem(_ =>
            {
                Interlocked.Increment(ref running);
                release.Wait(TimeSpan.FromSeconds(3));
            }, null);
        }

        try
        {
            var busy = Stopwatch.StartNew();
            while (Volatile.Read(ref running) < minWorkers && busy.Elapsed < TimeSpan.FromSeconds(5))
            {
                Thread.Yield();
            }

            test(blockers);
        }
        finally
        {
            release.Set();
        }
    }

    [Fact]
    public void Deadlines_release_their_callers_on_time_while_the_thread_pool_is_saturated()
    {
        // A timer's callback needs a pool thread: with every worker blocked it waits for the pool to add one (about
        // every half second), for each call anew. Four 200 ms calls in a row then take about 2 s instead of 0.8 s.
        var circuit = Circuit();
        WhilePoolIsSaturated(blockers =>
        {
            var all = Stopwatch.StartNew();
            var lateness = new List<double>();
            for (var i = 0; i < 4; i++)
            {
                var clock = Stopwatch.StartNew();
                var call = NeverEnding(circuit, TimeSpan.FromMilliseconds(200));
                var elapsed = BlockUntilDone(call, clock, TimeSpan.FromSeconds(5));
                Assert.True(call.IsCompleted, $"call {i} was not released within {elapsed.TotalMilliseconds:F0} ms while {blockers} work items held the pool");
                Assert.IsType<OperationDeadlineExceededException>(call.Exception!.InnerException);
                Assert.True(elapsed >= TimeSpan.FromMilliseconds(190), $"released early: {elapsed.TotalMilliseconds:F0} ms");
                lateness.Add(elapsed.TotalMilliseconds - 200);
            }

            Assert.True(all.Elapsed < TimeSpan.FromSeconds(1.5), $"four 200 ms calls took {all.Elapsed.TotalMilliseconds:F0} ms while {blockers} work items held the pool (ms late: {string.Join(", ", lateness.Select(l => l.ToString("F0", System.Globalization.CultureInfo.InvariantCulture)))})");
        });
    }

    [Fact]
    public void Calls_on_an_endpoint_found_down_are_released_while_the_thread_pool_is_saturated()
    {
        var circuit = Circuit();
        WhilePoolIsSaturated(blockers =>
        {
            var call = NeverEnding(circuit, TimeSpan.FromSeconds(30));
            var clock = Stopwatch.StartNew();
            Assert.Equal(1, circuit.AbandonInFlight());
            var elapsed = BlockUntilDone(call, clock, TimeSpan.FromSeconds(5));

            Assert.True(call.IsCompleted, $"the call was not released within {elapsed.TotalMilliseconds:F0} ms while {blockers} work items held the pool");
            Assert.True(call.IsCanceled, "an abandoned call ends as cancelled");
            Assert.True(elapsed < TimeSpan.FromSeconds(1.5), $"released {elapsed.TotalMilliseconds:F0} ms after its endpoint was found down");
        });
    }

    [Fact]
    public void Waits_for_a_topology_change_time_out_on_time_while_the_thread_pool_is_saturated()
    {
        var signal = new TopologyChangeSignal();
        WhilePoolIsSaturated(blockers =>
        {
            var all = Stopwatch.StartNew();
            for (var i = 0; i < 4; i++)
            {
                var clock = Stopwatch.StartNew();
                var wait = TopologyChangeSignal.WhenChangedAsync(signal.Task, TimeSpan.FromMilliseconds(200), TimeProvider.System, CancellationToken.None);
                var elapsed = BlockUntilDone(wait, clock, TimeSpan.FromSeconds(5));
                Assert.True(wait.IsCompleted, $"wait {i} did not time out within {elapsed.TotalMilliseconds:F0} ms while {blockers} work items held the pool");
                Assert.False(wait.Result, "a wait that times out completes with false");
                Assert.True(elapsed >= TimeSpan.FromMilliseconds(190), $"timed out early: {elapsed.TotalMilliseconds:F0} ms");
            }

            Assert.True(all.Elapsed < TimeSpan.FromSeconds(1.5), $"four 200 ms waits took {all.Elapsed.TotalMilliseconds:F0} ms while {blockers} work items held the pool");
        });
    }

    [Fact]
    public async Task A_wait_for_a_topology_change_ends_with_the_change_or_the_caller_s_cancellation_before_its_timeout()
    {
        var signal = new TopologyChangeSignal();
        var changed = TopologyChangeSignal.WhenChangedAsync(signal.Task, TimeSpan.FromSeconds(30), TimeProvider.System, CancellationToken.None);
        using var cts = new CancellationTokenSource();
        var cancelled = TopologyChangeSignal.WhenChangedAsync(new TaskCompletionSource().Task, TimeSpan.FromSeconds(30), TimeProvider.System, cts.Token);
        Assert.False(changed.IsCompleted);
        Assert.False(cancelled.IsCompleted);

        signal.Pulse();
        cts.Cancel();
        await changed.WaitAsync(TimeSpan.FromSeconds(10));
        var e = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(cts.Token, e.CancellationToken);
    }

    [Fact]
    public async Task A_reused_waiter_with_a_shorter_deadline_than_its_last_is_released_at_the_shorter_one()
    {
        var circuit = Circuit();
        for (var round = 0; round < 3; round++)
        {
            // A call with a long budget that ends on its own: its waiter keeps a deadline entry 5 s out.
            var answer = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
            var quick = circuit.ExecuteBoundedAsync(static (t, _) => new ValueTask<int>(t.Task), answer, new OperationDeadline(TimeProvider.System, TimeSpan.FromSeconds(5)), CancellationToken.None).AsTask();
            answer.SetResult(7);
            Assert.Equal(7, await quick.WaitAsync(TimeSpan.FromSeconds(5)));

            // The same (pooled) waiter, armed again with a shorter budget, must not wait for the old entry.
            var clock = Stopwatch.StartNew();
            var call = NeverEnding(circuit, TimeSpan.FromMilliseconds(150));
            var elapsed = BlockUntilDone(call, clock, TimeSpan.FromSeconds(10));
            Assert.IsType<OperationDeadlineExceededException>(call.Exception!.InnerException);
            Assert.True(elapsed >= TimeSpan.FromMilliseconds(140) && elapsed < TimeSpan.FromSeconds(1.5), $"released after {elapsed.TotalMilliseconds:F0} ms");
        }
    }

    [Fact]
    public async Task Many_calls_are_each_released_at_their_own_deadline_on_the_deadline_thread()
    {
        var circuit = Circuit();
        var clock = Stopwatch.StartNew();
        var ranOn = new System.Collections.Concurrent.ConcurrentBag<string?>();
        var calls = Enumerable.Range(0, 100).Select(i =>
        {
            var budget = TimeSpan.FromMilliseconds(50 + (i % 10 * 20));
            return NeverEnding(circuit, budget).ContinueWith(
                t =>
                {
                    ranOn.Add(Thread.CurrentThread.Name);
                    return (Budget: budget, Elapsed: clock.Elapsed, t.Exception?.InnerException);
                },
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }).ToArray();

        var results = await Task.WhenAll(calls).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.All(results, r => Assert.IsType<OperationDeadlineExceededException>(r.InnerException));
        Assert.All(results, r => Assert.True(r.Elapsed >= r.Budget - TimeSpan.FromMilliseconds(5), $"a {r.Budget.TotalMilliseconds} ms call was released after {r.Elapsed.TotalMilliseconds:F0} ms"));
        Assert.All(ranOn, name => Assert.Equal("HaClient deadline", name));
    }
}
