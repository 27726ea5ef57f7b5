using System.Runtime.CompilerServices;
using HaClient.Monitoring;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace HaClient.Tests;

/// <summary>Callers waiting for a topology change are woken on HaClient's wake thread, not through the thread pool.</summary>
public class TopologyChangeSignalTests
{
    [Fact]
    public async Task Every_waiter_is_woken_by_a_pulse_off_the_thread_pool_and_the_next_wait_starts_pending()
    {
        var signal = new TopologyChangeSignal();
        var pulsed = signal.Task;
        var ranOn = new System.Collections.Concurrent.ConcurrentBag<(bool Pool, string? Name)>();
        var waiters = Enumerable.Range(0, 100).Select(async _ =>
        {
            await TopologyChangeSignal.WhenChangedAsync(pulsed, TimeSpan.FromSeconds(30), TimeProvider.System, CancellationToken.None).ConfigureAwait(false);
            ranOn.Add((Thread.CurrentThread.IsThreadPoolThread, Thread.CurrentThread.Name));
        }).ToArray();
        Assert.False(pulsed.IsCompleted);

        signal.Pulse();
        await Task.WhenAll(waiters).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(100, ranOn.Count);
        Assert.All(ranOn, r => Assert.False(r.Pool));
        Assert.All(ranOn, r => Assert.Equal("HaClient wake", r.Name));
        Assert.NotSame(pulsed, signal.Task);
        Assert.False(signal.Task.IsCompleted);
    }

    [Fact]
    public async Task A_waiter_whose_continuation_throws_does_not_stop_the_wake_thread()
    {
        var first = new TopologyChangeSignal();
        var second = new TopologyChangeSignal();
        // A continuation that throws on the wake thread itself (ExecuteSynchronously).
        var pulsed = first.Task;
        var thrower = pulsed.ContinueWith(static _ => throw new InvalidOperationException("a caller's own failure"), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        first.Pulse();
        await Assert.ThrowsAsync<InvalidOperationException>(() => thrower.WaitAsync(TimeSpan.FromSeconds(30)));

        var woken = second.Task;
        second.Pulse();
        await woken.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(woken.IsCompletedSuccessfully);
    }

    [Fact]
    public async Task Waits_that_time_out_leave_nothing_behind_on_a_signal_that_has_not_changed()
    {
        // During an outage the signal does not change for seconds while every caller re-checks every 50 ms; the old
        // waits stayed reachable from the signal's task until the next change (40,000 in a 10 s outage of 400 callers).
        var signal = new TopologyChangeSignal();
        var waits = await TimedOutWaitsAsync(signal.Task, 200);
        // The deadline thread holds the last target it fired in a local until it fires the next: give it another.
        Assert.False(await TopologyChangeSignal.WhenChangedAsync(new TopologyChangeSignal().Task, TimeSpan.FromMilliseconds(5), TimeProvider.System, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30)));

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        var alive = waits.Count(w => w.IsAlive);
        Assert.True(alive == 0, $"{alive} of {waits.Length} timed-out waits are still reachable while the signal has not changed");
        Assert.False(signal.Task.IsCompleted);
        GC.KeepAlive(signal);
    }

    [Fact]
    public async Task A_wait_ends_with_true_on_the_change_and_false_at_its_timeout_on_either_clock()
    {
        var fake = new FakeTimeProvider();
        var signal = new TopologyChangeSignal();
        var onFake = TopologyChangeSignal.WhenChangedAsync(signal.Task, TimeSpan.FromSeconds(5), fake, CancellationToken.None);
        fake.Advance(TimeSpan.FromSeconds(4));
        Assert.False(onFake.IsCompleted);
        fake.Advance(TimeSpan.FromSeconds(1));
        Assert.False(await onFake.WaitAsync(TimeSpan.FromSeconds(10)));

        var onSystem = TopologyChangeSignal.WhenChangedAsync(signal.Task, TimeSpan.FromMilliseconds(20), TimeProvider.System, CancellationToken.None);
        Assert.False(await onSystem.WaitAsync(TimeSpan.FromSeconds(10)));

        var changedOnFake = TopologyChangeSignal.WhenChangedAsync(signal.Task, TimeSpan.FromSeconds(5), fake, CancellationToken.None);
        var changedOnSystem = TopologyChangeSignal.WhenChangedAsync(signal.Task, TimeSpan.FromSeconds(30), TimeProvider.System, CancellationToken.None);
        signal.Pulse();
        Assert.True(await changedOnFake.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.True(await changedOnSystem.WaitAsync(TimeSpan.FromSeconds(10)));

        // A wait on a task that already completed does not wait.
        var completed = TopologyChangeSignal.WhenChangedAsync(Task.CompletedTask, TimeSpan.FromSeconds(5), fake, CancellationToken.None);
        Assert.True(completed.IsCompletedSuccessfully);
        Assert.True(await completed);
    }

    // Not inlined, so no local of the caller keeps a wait alive.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task<WeakReference[]> TimedOutWaitsAsync(Task changed, int count)
    {
        var waits = new Task<bool>[count];
        for (var i = 0; i < count; i++)
        {
            waits[i] = TopologyChangeSignal.WhenChangedAsync(changed, TimeSpan.FromMilliseconds(5), TimeProvider.System, CancellationToken.None);
        }

        var results = await Task.WhenAll(waits).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.All(results, Assert.False);
        return waits.Select(w => new WeakReference(w)).ToArray();
    }
}
