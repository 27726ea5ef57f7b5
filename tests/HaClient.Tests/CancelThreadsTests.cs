using HaClient.Resilience;
using Xunit;

namespace HaClient.Tests.Unit;

/// <summary>Abandoned calls are cancelled on threads of their own, side by side, and handing one over does not wait for
/// it (the cancellation of a call on a frozen server blocks). The latency this removes from the deadline thread (a
/// thread start per released call, milliseconds each on a loaded 2-core machine) shows only under load: the plain-lab
/// hang storm measures it (docs/lab-report.md).</summary>
public class CancelThreadsTests
{
    [Fact]
    public void Blocking_cancellations_run_side_by_side_off_the_callers_thread()
    {
        const int calls = 16;
        using var gate = new ManualResetEventSlim();
        var entered = 0;
        var names = new System.Collections.Concurrent.ConcurrentBag<string?>();
        var sources = Enumerable.Range(0, calls).Select(_ =>
        {
            var cts = new CancellationTokenSource();
            cts.Token.Register(() =>
            {
                names.Add(Thread.CurrentThread.Name);
                Interlocked.Increment(ref entered);
                gate.Wait(TimeSpan.FromSeconds(20)); // a driver's cancel request to a frozen server
            });
            return cts;
        }).ToArray();

        try
        {
            foreach (var cts in sources)
            {
                CancelThreads.Instance.Cancel(cts); // returns although every cancellation blocks
            }

            Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref entered) == calls, TimeSpan.FromSeconds(15)),
                $"only {Volatile.Read(ref entered)} of {calls} blocking cancellations were running at once");
            Assert.All(names, n => Assert.Equal("HaClient cancel", n));
        }
        finally
        {
            gate.Set();
        }
    }

    [Fact]
    public void Quick_cancellations_reuse_a_few_threads_and_idle_threads_end()
    {
        // A crashed server refuses a cancel request at once: a storm's 400 cancellations then need a few threads, not
        // 400 thread starts at the moment of the crash (each was a new thread before).
        const int calls = 400;
        var dispatcher = new CancelThreads(TimeSpan.FromMilliseconds(200));
        var threads = new System.Collections.Concurrent.ConcurrentDictionary<Thread, bool>(ReferenceEqualityComparer.Instance);
        var done = 0;
        for (var i = 0; i < calls; i++)
        {
            var cts = new CancellationTokenSource();
            cts.Token.Register(() =>
            {
                threads.TryAdd(Thread.CurrentThread, true);
                Interlocked.Increment(ref done);
            });
            dispatcher.Cancel(cts);
        }

        Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref done) == calls, TimeSpan.FromSeconds(30)), $"{Volatile.Read(ref done)} of {calls} cancelled");
        Assert.True(threads.Count <= calls / 4, $"{threads.Count} threads for {calls} quick cancellations");
        Assert.True(SpinWait.SpinUntil(() => dispatcher.Workers == 0, TimeSpan.FromSeconds(15)), $"{dispatcher.Workers} workers still alive after their idle time");

        // And a cancellation after they ended still runs.
        var late = new CancellationTokenSource();
        using var ran = new ManualResetEventSlim();
        late.Token.Register(ran.Set);
        dispatcher.Cancel(late);
        Assert.True(ran.Wait(TimeSpan.FromSeconds(15)), "a cancellation after the workers ended never ran");
    }

    [Fact]
    public async Task An_abandoned_call_is_cancelled_through_them()
    {
        var cts = new CancellationTokenSource();
        var cancelledOn = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        cts.Token.Register(() => cancelledOn.TrySetResult(Thread.CurrentThread.Name));
        Budget.Abandon(new TaskCompletionSource<int>().Task, cts);
        Assert.Equal("HaClient cancel", await cancelledOn.Task.WaitAsync(TimeSpan.FromSeconds(15)));
    }
}
