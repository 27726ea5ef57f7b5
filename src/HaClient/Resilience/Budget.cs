using System.Runtime.CompilerServices;
using Polly;

namespace HaClient.Resilience;

/// <summary>
/// Bounds a call in time without trusting the callee to honour cancellation: a frozen server can hold a driver's
/// cancellation for seconds, so the caller is released when the budget ends and the abandoned call is cancelled and
/// left to finish in the background.
/// </summary>
public static class Budget
{
    /// <summary>Awaits <paramref name="task"/> for at most <paramref name="remaining"/> on <paramref name="time"/> (the
    /// system clock when <see langword="null"/>). On expiry cancels <paramref name="cts"/> off the thread pool and throws
    /// <see cref="OperationDeadlineExceededException"/> (<see cref="OperationCanceledException"/> when the caller
    /// cancelled); the abandoned task's fault is observed. Callers must not also arm <c>cts.CancelAfter</c>: that would run
    /// the driver's cancellation on a thread-pool timer thread.</summary>
    public static async Task<T> WithinAsync<T>(Task<T> task, TimeSpan remaining, CancellationTokenSource cts, CancellationToken callerToken, TimeProvider? time = null)
    {
        try
        {
            return await task.WaitAsync(AtLeastOneMillisecond(remaining), time ?? TimeProvider.System, callerToken).ConfigureAwait(false);
        }
        catch (Exception e) when (!task.IsCompleted)
        {
            throw Settle(task, cts, e, remaining, callerToken);
        }
    }

    /// <summary>
    /// Starts <paramref name="call"/> with a token of a reused source and awaits it until <paramref name="deadline"/>
    /// (see <see cref="WithinAsync{T}"/>) on a pooled <see cref="CallWaiter"/>, so that the deadline is released as a
    /// closed circuit's calls are (on the system clock, by HaClient's deadline thread). The outcome comes back instead of
    /// an exception, with the result typed as <see cref="object"/> (the breaker's result type, so Polly calls straight
    /// through). The returned task is pooled: await it once.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    internal static async ValueTask<Outcome<object?>> RunAsync<T, TState>(Func<TState, CancellationToken, Task<T>> call, TState state, OperationDeadline deadline, CancellationToken callerToken)
    {
        var cts = RentSource();
        var task = call(state, cts.Token);
        if (!task.IsCompleted)
        {
            var waiter = CallWaiter.Arm(task, deadline.Remaining, deadline.TimeProvider, callerToken);
            waiter.ReleaseRegistry(); // not in an endpoint's in-flight registry
            var reason = await waiter.AsValueTask().ConfigureAwait(false);
            if (reason != CallWaiter.Reason.Completed && !task.IsCompleted)
            {
                Abandon(task, cts);
                return Outcome.FromException<object?>(reason == CallWaiter.Reason.Cancelled
                    ? new OperationCanceledException(callerToken)
                    : new OperationDeadlineExceededException(deadline.Budget));
            }
        }

        try
        {
            var result = await task.ConfigureAwait(false);
            ReturnSource(cts);
            return Outcome.FromResult<object?>(result);
        }
        catch (Exception e)
        {
            // The call's own failure: nothing holds the token any more.
            ReturnSource(cts);
            return Outcome.FromException<object?>(e);
        }
    }

    /// <summary>A budget that has run out still gets a moment (<see cref="Task.WaitAsync(TimeSpan)"/> takes 0 as "no
    /// wait", not "expired").</summary>
    internal static TimeSpan AtLeastOneMillisecond(TimeSpan remaining) => remaining <= TimeSpan.Zero ? TimeSpan.FromMilliseconds(1) : remaining;

    /// <summary>After a bounded wait on <paramref name="task"/> (started with <paramref name="cts"/>'s token) threw
    /// <paramref name="e"/>, returns what the caller gets. When <paramref name="task"/> has not ended, the deadline passed
    /// or the caller cancelled: the call is abandoned, and the caller gets <see cref="OperationDeadlineExceededException"/>
    /// (or the cancellation). Otherwise the call itself failed: nothing holds the token, the source is reused, and the
    /// call's own exception is returned. Exact: a <see cref="TimeoutException"/> the driver threw itself is the call's.</summary>
    internal static Exception Settle(Task task, CancellationTokenSource cts, Exception e, TimeSpan budget, CancellationToken callerToken)
    {
        if (task.IsCompleted)
        {
            ReturnSource(cts);
            return e;
        }

        Abandon(task, cts);
        return callerToken.IsCancellationRequested ? e : new OperationDeadlineExceededException(budget);
    }

    /// <summary>Gives up on <paramref name="task"/>: cancels <paramref name="cts"/> off the thread pool and observes the
    /// task's fault. <paramref name="cts"/> must not be reused afterwards.</summary>
    internal static void Abandon(Task task, CancellationTokenSource cts)
    {
        CancelOffThreadPool(cts);
        _ = task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>A cancellation source for one bounded call, reused across calls: a fresh source per call costs an object,
    /// its registration list and the driver's registration node every time. Pair with <see cref="ReturnSource"/>.</summary>
    internal static CancellationTokenSource RentSource() => s_sources.TryRent() ?? new CancellationTokenSource();

    /// <summary>Returns a source after its call finished (never after <see cref="Abandon"/>): kept when it resets cleanly
    /// (no cancellation was requested; its registrations are dropped), disposed otherwise. The finished call must not
    /// keep the token.</summary>
    internal static void ReturnSource(CancellationTokenSource cts)
    {
        if (!cts.TryReset() || !s_sources.TryReturn(cts))
        {
            cts.Dispose();
        }
    }

    private static readonly ReusePool<CancellationTokenSource> s_sources = new(Math.Max(16, Environment.ProcessorCount * 8));

    /// <summary>
    /// Cancels on a dedicated thread. A driver's cancellation callback can block: Npgsql sends a PostgreSQL cancel request
    /// synchronously and may then wait for the server. Against a frozen server that holds the thread for seconds; on a
    /// 2-core machine two such threads are the whole thread pool. Never on the pool, then; and not started by the caller
    /// either (<see cref="CancelThreads"/>): the caller is often HaClient's deadline thread releasing a storm of calls.
    /// </summary>
    private static void CancelOffThreadPool(CancellationTokenSource cts) => CancelThreads.Instance.Cancel(cts);
}
