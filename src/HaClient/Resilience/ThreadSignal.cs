namespace HaClient.Resilience;

/// <summary>
/// A counting signal for HaClient's dedicated threads (cancel workers, the wake thread) that blocks without spinning.
/// <see cref="SemaphoreSlim.Wait(TimeSpan)"/> spins and yields up to 35 times before it blocks: a thread profile of the
/// Patroni crash storm (400 callers, 2 cores, 2026-12-02) had threads spinning there for about half of the CPU samples
/// of HaClient's process in the half second after the crash, when the callers needed the two cores most.
/// <see cref="Monitor.Wait(object, int)"/> blocks at once.
/// </summary>
internal sealed class ThreadSignal
{
    private readonly object _lock = new();
    private int _count;

    /// <summary>Adds one to the count and wakes one waiter.</summary>
    public void Release()
    {
        lock (_lock)
        {
            _count++;
            Monitor.Pulse(_lock);
        }
    }

    /// <summary>Waits until the count is above zero and takes one; no timeout.</summary>
    public void Wait() => Wait(Timeout.InfiniteTimeSpan);

    /// <summary>Waits up to <paramref name="timeout"/> (<see cref="Timeout.InfiniteTimeSpan"/>: no limit) for the count to be
    /// above zero and takes one. Returns false when the time ran out first.</summary>
    public bool Wait(TimeSpan timeout)
    {
        var infinite = timeout == Timeout.InfiniteTimeSpan;
        var start = Environment.TickCount64;
        lock (_lock)
        {
            while (_count == 0)
            {
                var left = infinite ? Timeout.Infinite : (int)Math.Clamp((long)timeout.TotalMilliseconds - (Environment.TickCount64 - start), 0, int.MaxValue);
                if (left == 0 || !Monitor.Wait(_lock, left) && !infinite && _count == 0)
                {
                    return false;
                }
            }

            _count--;
            return true;
        }
    }
}
