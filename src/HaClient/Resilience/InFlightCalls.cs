namespace HaClient.Resilience;

/// <summary>
/// The calls in flight on one endpoint, by their waiters, so that <see cref="ReleaseAll"/> can let their callers go at
/// once when the endpoint is found down. Fixed size and lock-free: a call that finds no free entry (more than 512 in
/// flight on one endpoint) is simply not releasable early and waits for its own deadline.
/// </summary>
internal sealed class InFlightCalls
{
    private readonly CallWaiter?[] _entries = new CallWaiter?[512];

    /// <summary>Registers <paramref name="waiter"/>; returns its entry, or -1 when every entry is taken.</summary>
    public int Add(CallWaiter waiter)
    {
        // Each waiter starts at its own place (its identity hash), so concurrent calls seldom meet on an entry, and no
        // shared counter's cache line moves between cores on every call.
        var start = System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(waiter);
        for (var k = 0; k < _entries.Length; k++)
        {
            var i = (int)((uint)(start + k) % (uint)_entries.Length);
            if (Volatile.Read(ref _entries[i]) is null && Interlocked.CompareExchange(ref _entries[i], waiter, null) is null)
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Removes the call's entry; false when <see cref="ReleaseAll"/> took it first (and will release it).</summary>
    public bool Remove(int index, CallWaiter waiter)
        => ReferenceEquals(Interlocked.CompareExchange(ref _entries[index], null, waiter), waiter);

    /// <summary>Takes every registered waiter and releases its caller on HaClient's deadline thread
    /// (<see cref="DeadlineThread.ReleaseAbandoned"/>): never on the calling thread, which is a monitor's, and never
    /// through the thread pool, which is what a failover starves. Returns how many callers were released.</summary>
    public int ReleaseAll()
    {
        List<CallWaiter>? taken = null;
        for (var i = 0; i < _entries.Length; i++)
        {
            if (Volatile.Read(ref _entries[i]) is not null && Interlocked.Exchange(ref _entries[i], null) is { } waiter)
            {
                (taken ??= []).Add(waiter);
            }
        }

        if (taken is null)
        {
            return 0;
        }

        DeadlineThread.Instance.ReleaseAbandoned(taken);
        return taken.Count;
    }
}
