namespace HaClient.Monitoring;

/// <summary>
/// Wakes a monitor's probe loop early: the loop waits for its interval or for <see cref="Set"/>, whichever comes first.
/// Any number of <see cref="Set"/> calls before the loop waits again collapse into one wake-up.
/// </summary>
public sealed class ProbeWakeup : IDisposable
{
    private readonly SemaphoreSlim _signal = new(0, 1);

    /// <summary>Creates a wake-up signal that is not set.</summary>
    public ProbeWakeup()
    {
    }

    /// <summary>Makes the next (or current) wait return at once.</summary>
    public void Set()
    {
        try
        {
            if (_signal.CurrentCount == 0)
            {
                _signal.Release();
            }
        }
        catch (SemaphoreFullException)
        {
            // Another caller set it first: one wake-up is enough.
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Waits for <paramref name="interval"/> on <paramref name="time"/> or an earlier <see cref="Set"/>, whichever
    /// comes first. Returns whether it was woken by <see cref="Set"/>.</summary>
    public async Task<bool> WaitAsync(TimeSpan interval, TimeProvider time, CancellationToken cancellationToken)
    {
        if (ReferenceEquals(time, TimeProvider.System))
        {
            return await _signal.WaitAsync(interval, cancellationToken).ConfigureAwait(false);
        }

        // Another clock (a test's fake): the interval is a timer of that clock.
        using var timer = new CancellationTokenSource(interval, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timer.Token, cancellationToken);
        try
        {
            await _signal.WaitAsync(linked.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (timer.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>As <see cref="WaitAsync"/>, blocking: for the monitors' own dedicated threads, never the thread pool.
    /// Returns whether it was woken by <see cref="Set"/>; <see langword="false"/> also when
    /// <paramref name="cancellationToken"/> was cancelled.</summary>
    public bool Wait(TimeSpan interval, TimeProvider time, CancellationToken cancellationToken)
    {
        try
        {
            if (ReferenceEquals(time, TimeProvider.System))
            {
                return _signal.Wait(interval, cancellationToken);
            }

            return WaitAsync(interval, time, cancellationToken).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <inheritdoc />
    public void Dispose() => _signal.Dispose();
}
