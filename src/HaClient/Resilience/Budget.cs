namespace HaClient.Resilience;

/// <summary>
/// Bounds a call in time without trusting the callee to honour cancellation: a frozen server can hold a driver's
/// cancellation for seconds, so the caller is released when the budget ends and the abandoned call is cancelled and
/// left to finish in the background.
/// </summary>
internal static class Budget
{
    /// <summary>Awaits <paramref name="task"/> for at most <paramref name="remaining"/>. On expiry cancels <paramref name="cts"/>
    /// and throws <see cref="TimeoutException"/>; the task's own fault is observed so nothing goes unobserved.</summary>
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
            // Not awaited: the driver's cancellation callback may itself wait on the frozen server.
            _ = CancelQuietlyAsync(cts);

            _ = task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            throw;
        }
    }

    private static async Task CancelQuietlyAsync(CancellationTokenSource cts)
    {
        try
        {
            await cts.CancelAsync().ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The abandoned call's cancellation is best effort; its own outcome is observed above.
        }
    }
}
