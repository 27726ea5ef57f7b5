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
                return WaitWithoutSpinning(interval, cancellationToken);
            }

            return WaitAsync(interval, time, cancellationToken).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>
    /// <see cref="SemaphoreSlim.Wait(TimeSpan, CancellationToken)"/> spins and yields up to 35 times before it blocks; a
    /// probe thread waits between every two probes, and the spinning showed in a thread profile of the Patroni crash
    /// storm (2026-12-02) when the callers needed the two cores. The semaphore's wait handle blocks at once.
    /// </summary>
    private bool WaitWithoutSpinning(TimeSpan interval, CancellationToken cancellationToken)
    {
        if (_signal.Wait(0, CancellationToken.None))
        {
            return true;
        }

        using var registration = cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static s => ((ProbeWakeup)s!).Set(), this)
            : default;
        var deadline = new HaClient.Resilience.OperationDeadline(TimeProvider.System, interval);
        while (true)
        {
            var signalled = _signal.AvailableWaitHandle.WaitOne(HaClient.Resilience.ThreadSignal.MillisecondsLeft(deadline));
            if (cancellationToken.IsCancellationRequested)
            {
                return false;
            }

            if (signalled && _signal.Wait(0, CancellationToken.None))
            {
                return true;
            }

            if (!signalled)
            {
                return false;
            }

            // Another waiter took the count first: wait again for what is left of the interval.
        }
    }

    /// <inheritdoc />
    public void Dispose() => _signal.Dispose();
}
