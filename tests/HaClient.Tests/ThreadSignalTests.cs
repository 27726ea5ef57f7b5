using HaClient.Monitoring;
using HaClient.Resilience;
using Xunit;

namespace HaClient.Tests.Unit;

/// <summary>The blocking waits of HaClient's dedicated threads: a count is never lost, a timeout ends the wait, and the
/// probe loop's wait is woken by a set, by the interval or by its cancellation. (That they do not spin shows only under
/// load: the Patroni crash storm's thread profile, docs/lab-report.md.)</summary>
public class ThreadSignalTests
{
    [Fact]
    public void Every_release_lets_one_wait_through_and_none_more()
    {
        const int releases = 2_000;
        var signal = new ThreadSignal();
        var taken = 0;
        var waiters = Enumerable.Range(0, 4).Select(_ => new Thread(() =>
        {
            while (signal.Wait(TimeSpan.FromMilliseconds(500)))
            {
                Interlocked.Increment(ref taken);
            }
        })).ToArray();
        foreach (var t in waiters)
        {
            t.Start();
        }

        Parallel.For(0, releases, _ => signal.Release());
        foreach (var t in waiters)
        {
            Assert.True(t.Join(TimeSpan.FromSeconds(30)), "a waiter never timed out after the last release");
        }

        Assert.Equal(releases, Volatile.Read(ref taken));
        Assert.False(signal.Wait(TimeSpan.Zero));
    }

    [Fact]
    public void A_wait_times_out_and_a_release_before_it_is_kept()
    {
        var signal = new ThreadSignal();
        var started = Environment.TickCount64;
        Assert.False(signal.Wait(TimeSpan.FromMilliseconds(100)));
        Assert.True(Environment.TickCount64 - started >= 90, "returned before its timeout");

        signal.Release();
        signal.Release();
        Assert.True(signal.Wait(TimeSpan.Zero));
        Assert.True(signal.Wait(TimeSpan.FromSeconds(5)));
        Assert.False(signal.Wait(TimeSpan.Zero));
    }

    [Fact]
    public async Task The_probe_loops_blocking_wait_is_woken_by_a_set_the_interval_or_its_cancellation()
    {
        using var wake = new ProbeWakeup();

        // A set before the wait is kept (and many collapse into one).
        wake.Set();
        wake.Set();
        Assert.True(wake.Wait(TimeSpan.FromSeconds(10), TimeProvider.System, CancellationToken.None));
        Assert.False(wake.Wait(TimeSpan.FromMilliseconds(50), TimeProvider.System, CancellationToken.None));

        // A set while it waits.
        var waiting = Task.Factory.StartNew(() => wake.Wait(TimeSpan.FromSeconds(20), TimeProvider.System, CancellationToken.None), TaskCreationOptions.LongRunning);
        Assert.NotSame(waiting, await Task.WhenAny(waiting, Task.Delay(100)));
        wake.Set();
        Assert.True(await waiting.WaitAsync(TimeSpan.FromSeconds(10)), "not woken by the set");

        // Its cancellation ends it, as not woken.
        using var stop = new CancellationTokenSource();
        var cancelled = Task.Factory.StartNew(() => wake.Wait(TimeSpan.FromSeconds(20), TimeProvider.System, stop.Token), TaskCreationOptions.LongRunning);
        Assert.NotSame(cancelled, await Task.WhenAny(cancelled, Task.Delay(100)));
        await stop.CancelAsync();
        Assert.False(await cancelled.WaitAsync(TimeSpan.FromSeconds(10)));
    }
}
