using HaClient.Monitoring;
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
}
