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
        var deadline = new OperationDeadline(TimeProvider.System, timeout);
        lock (_lock)
        {
            while (_count == 0)
            {
                var left = MillisecondsLeft(deadline);
                if (left == 0)
                {
                    return false;
                }

                Monitor.Wait(_lock, left);
            }

            _count--;
            return true;
        }
    }

    /// <summary>What is left of a wait for a blocking call's millisecond timeout: <see cref="Timeout.Infinite"/> for a
    /// wait of <see cref="Timeout.InfiniteTimeSpan"/>, 0 once it has run out.</summary>
    internal static int MillisecondsLeft(in OperationDeadline deadline)
        => deadline.Budget == Timeout.InfiniteTimeSpan
            ? Timeout.Infinite
            : (int)Math.Min(int.MaxValue, Math.Ceiling(deadline.Remaining.TotalMilliseconds));
}
