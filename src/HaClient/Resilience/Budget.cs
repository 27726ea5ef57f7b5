using System.Runtime.CompilerServices;
using Polly;

namespace HaClient.Resilience;

/// <summary>
/// Bounds a call in time without trusting the callee to honour cancellation: a frozen server can hold a driver's
/// cancellation for seconds, so the caller is released when the budget ends and the abandoned call is cancelled and
/// left to finish in the background.
/// </summary>
internal static class Budget
{
    /// <summary>Awaits <paramref name="task"/> for at most <paramref name="remaining"/>. On expiry (or when the caller
    /// cancels) cancels <paramref name="cts"/> off the thread pool and throws <see cref="TimeoutException"/> (or
    /// <see cref="OperationCanceledException"/>); the abandoned task's fault is observed. Callers must not also arm
    /// <c>cts.CancelAfter</c>: that would run the driver's cancellation on a thread-pool timer thread.</summary>
    public static async Task<T> WithinAsync<T>(Task<T> task, TimeSpan remaining, CancellationTokenSource cts, CancellationToken callerToken)
    {
        if (remaining <= TimeSpan.Zero)
        {
            remaining = TimeSpan.FromMilliseconds(1);
        }

        try
        {
            return await task.WaitAsync(remaining, callerToken).ConfigureAwait(false);
        }
        catch (Exception e) when (IsExpiry(e, callerToken))
        {
            Abandon(task, cts);
            throw;
        }
    }

    /// <summary>
    /// Starts <paramref name="call"/> with a token of a reused source and awaits it for at most <paramref name="remaining"/>
    /// (see <see cref="WithinAsync{T}"/>). The outcome comes back instead of an exception, with the result typed as
    /// <see cref="object"/> (the breaker's result type, so Polly calls straight through). The returned task is pooled:
    /// await it once.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public static async ValueTask<Outcome<object?>> RunAsync<T, TState>(Func<TState, CancellationToken, Task<T>> call, TState state, TimeSpan remaining, CancellationToken callerToken)
    {
        var cts = RentSource();
        var task = call(state, cts.Token);
        try
        {
            var result = await task.WaitAsync(AtLeastOneMillisecond(remaining), callerToken).ConfigureAwait(false);
            ReturnSource(cts);
            return Outcome.FromResult<object?>(result);
        }
        catch (Exception e)
        {
            Settle(task, cts, e, callerToken);
            return Outcome.FromException<object?>(e);
        }
    }

    /// <summary>A budget that has run out still gets a moment (<see cref="Task.WaitAsync(TimeSpan)"/> takes 0 as "no
    /// wait", not "expired").</summary>
    public static TimeSpan AtLeastOneMillisecond(TimeSpan remaining) => remaining <= TimeSpan.Zero ? TimeSpan.FromMilliseconds(1) : remaining;

    /// <summary>After a bounded wait on <paramref name="task"/> (started with <paramref name="cts"/>'s token) threw
    /// <paramref name="e"/>: abandons the call when the budget ended or the caller cancelled, otherwise (the call itself
    /// failed, so nothing holds the token) returns the source for reuse.</summary>
    public static void Settle(Task task, CancellationTokenSource cts, Exception e, CancellationToken callerToken)
    {
        if (IsExpiry(e, callerToken))
        {
            Abandon(task, cts);
        }
        else
        {
            ReturnSource(cts);
        }
    }

    /// <summary>Whether <paramref name="e"/>, thrown by <see cref="Task.WaitAsync(TimeSpan, CancellationToken)"/>, means the
    /// budget ended or the caller cancelled (so the awaited task was abandoned, not finished).</summary>
    public static bool IsExpiry(Exception e, CancellationToken callerToken)
        => e is TimeoutException || (e is OperationCanceledException && callerToken.IsCancellationRequested);

    /// <summary>Gives up on <paramref name="task"/>: cancels <paramref name="cts"/> off the thread pool and observes the
    /// task's fault. <paramref name="cts"/> must not be reused afterwards.</summary>
    public static void Abandon(Task task, CancellationTokenSource cts)
    {
        CancelOffThreadPool(cts);
        _ = task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>A cancellation source for one bounded call, reused across calls: a fresh source per call costs an object,
    /// its registration list and the driver's registration node every time. Pair with <see cref="ReturnSource"/>.</summary>
    public static CancellationTokenSource RentSource()
    {
        var sources = s_sources;
        for (var i = 0; i < sources.Length; i++)
        {
            var cts = Interlocked.Exchange(ref sources[i], null);
            if (cts is not null)
            {
                return cts;
            }
        }

        return new CancellationTokenSource();
    }

    /// <summary>Returns a source after its call finished (never after <see cref="Abandon"/>): kept when it resets cleanly
    /// (no cancellation was requested; its registrations are dropped), disposed otherwise. The finished call must not
    /// keep the token.</summary>
    public static void ReturnSource(CancellationTokenSource cts)
    {
        if (cts.TryReset())
        {
            var sources = s_sources;
            for (var i = 0; i < sources.Length; i++)
            {
                if (Interlocked.CompareExchange(ref sources[i], cts, null) is null)
                {
                    return;
                }
            }
        }

        cts.Dispose();
    }

    private static readonly CancellationTokenSource?[] s_sources = new CancellationTokenSource?[Math.Max(16, Environment.ProcessorCount * 8)];

    /// <summary>
    /// Cancels on a dedicated thread. A driver's cancellation callback can block: Npgsql sends a PostgreSQL cancel request
    /// synchronously and may then wait for the server. Against a frozen server that holds the thread for seconds; on a
    /// 2-core machine two such threads are the whole thread pool. Never on the pool, then.
    /// </summary>
    private static void CancelOffThreadPool(CancellationTokenSource cts)
    {
        var thread = new Thread(static state =>
        {
            try
            {
                ((CancellationTokenSource)state!).Cancel();
            }
            catch (Exception)
            {
                // Best effort: the abandoned call's own outcome is observed by the continuation.
            }
        })
        {
            IsBackground = true,
            Name = "HaClient cancel",
        };
        thread.Start(cts);
    }
}
