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
        catch (Exception e) when (e is TimeoutException || (e is OperationCanceledException && callerToken.IsCancellationRequested))
        {
            CancelOffThreadPool(cts);

            _ = task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            throw;
        }
    }

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
