namespace HaClient.Monitoring;

/// <summary>
/// Wakes a monitor's probe loop early: the loop waits for its interval or for <see cref="Set"/>, whichever comes first.
/// Any number of <see cref="Set"/> calls before the loop waits again collapse into one wake-up.
/// </summary>
internal sealed class ProbeWakeup
{
    private readonly SemaphoreSlim _signal = new(0, 1);

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

    /// <summary>Waits for <paramref name="interval"/> or an earlier <see cref="Set"/>.</summary>
    public Task<bool> WaitAsync(TimeSpan interval, CancellationToken cancellationToken) => _signal.WaitAsync(interval, cancellationToken);
}
