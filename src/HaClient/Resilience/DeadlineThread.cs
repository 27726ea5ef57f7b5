namespace HaClient.Resilience;

/// <summary>
/// Releases bounded calls at their deadlines on the system clock (and ends callers' waits for a topology change at
/// their timeouts, <see cref="DeadlineTarget"/>) from one dedicated thread shared by every component, never through the
/// thread pool. A .NET timer's callback is a thread-pool work item: when the application has the pool
/// busy (every caller waiting on a frozen server, a burst of blocking work), a deadline fires only once a worker is
/// free, so the call outlives its budget by as long as the pool is starved. Here the release waits for nothing but
/// this thread. The same thread lets go at once the callers whose endpoint was found down
/// (<see cref="ReleaseAbandoned"/>): a deadline brought forward.
/// </summary>
/// <remarks>
/// <para>A min-heap of (deadline, waiter) entries with lazy deletion, under one lock, and the thread asleep until the
/// earliest deadline. A waiter has at most one live entry (<see cref="DeadlineTarget.ScheduledAt"/>): a reused waiter whose
/// entry is due no later than its new deadline schedules nothing (no lock, no heap operation); when that entry comes
/// due the thread finds the waiter re-armed and schedules it again at its current deadline. So with a steady budget the
/// hot path costs a field read per call, and the heap holds about as many entries as there are waiters, not one per
/// call made within a budget. An entry whose waiter ended, or which a shorter deadline superseded, is dropped when it
/// comes due.</para>
/// <para>When a deadline fires, the caller's continuation runs inline on this thread, as a woken caller's does on the
/// wake thread (<see cref="Monitoring.TopologyChangeSignal"/>): the bounded call hands its abandoned call to the cancel
/// thread, fails with <see cref="OperationDeadlineExceededException"/>, and the caller's own code runs up to its next
/// asynchronous wait. Handing the continuation to the pool instead would only move the lateness from the release to
/// the caller: the release is for the caller to run. HaClient's code does no blocking work there; a caller's code that
/// blocked after a failed call before its next <c>await</c> would delay the other deadlines (and would hold a pool
/// thread on any other path).</para>
/// </remarks>
internal sealed class DeadlineThread
{
    /// <summary>The thread of the system clock, started on first use and kept for the process (a background thread).</summary>
    public static readonly DeadlineThread Instance = new();

    private readonly object _lock = new();
    private readonly TimeProvider _time = TimeProvider.System;
    private readonly Queue<List<CallWaiter>> _abandoned = new();
    private Entry[] _heap = new Entry[256];
    private int _count;

    // When the sleeping thread wakes by itself (its earliest entry); long.MinValue while it is awake and will look at
    // the heap again before it sleeps (so a new entry needs no pulse).
    private long _sleepingUntil = long.MinValue;

    private DeadlineThread()
    {
        new Thread(Run) { IsBackground = true, Name = "HaClient deadline" }.Start();
    }

    /// <summary>Fires <paramref name="waiter"/>'s deadline once the system clock reaches <paramref name="deadline"/> (a
    /// timestamp), unless it ended or was re-armed by then. The caller has published the waiter's new arming (state and
    /// deadline) with a full fence before this call.</summary>
    public void Schedule(DeadlineTarget waiter, long deadline)
    {
        if (Volatile.Read(ref waiter.ScheduledAt) <= deadline)
        {
            // Its live entry is due first; then the thread sees the new arming and schedules it again.
            return;
        }

        lock (_lock)
        {
            if (waiter.ScheduledAt <= deadline)
            {
                return;
            }

            Volatile.Write(ref waiter.ScheduledAt, deadline);
            Push(new Entry(deadline, waiter));
            if (deadline < _sleepingUntil)
            {
                Monitor.Pulse(_lock);
            }
        }
    }

    /// <summary>Ends the waits of <paramref name="waiters"/> as abandoned (their endpoint was found down), on this thread,
    /// and gives up the in-flight registry's reference of each (<see cref="CallWaiter.Abandon"/>). Returns at once: the
    /// caller is a monitor.</summary>
    public void ReleaseAbandoned(List<CallWaiter> waiters)
    {
        lock (_lock)
        {
            _abandoned.Enqueue(waiters);
            if (_sleepingUntil != long.MinValue)
            {
                Monitor.Pulse(_lock);
            }
        }
    }

    /// <summary>The number of entries (live and stale) waiting (tests).</summary>
    internal int Count
    {
        get
        {
            lock (_lock)
            {
                return _count;
            }
        }
    }

    private void Run()
    {
        var due = new List<(DeadlineTarget Waiter, long State)>();
        var abandoned = new List<List<CallWaiter>>();
        while (true)
        {
            lock (_lock)
            {
                while (true)
                {
                    while (_abandoned.TryDequeue(out var batch))
                    {
                        abandoned.Add(batch);
                    }

                    var now = _time.GetTimestamp();
                    TakeDue(now, due);
                    if (due.Count > 0 || abandoned.Count > 0)
                    {
                        break;
                    }

                    _sleepingUntil = _count > 0 ? _heap[0].Deadline : long.MaxValue;
                    Monitor.Wait(_lock, WaitMilliseconds(_sleepingUntil, now));
                    _sleepingUntil = long.MinValue;
                }
            }

            // Outside the lock: each release runs its caller's continuation inline.
            foreach (var batch in abandoned)
            {
                foreach (var waiter in batch)
                {
                    try
                    {
                        waiter.Abandon();
                    }
                    catch (Exception)
                    {
                        // As below.
                    }
                }
            }

            abandoned.Clear();
            foreach (var (waiter, state) in due)
            {
                try
                {
                    waiter.FireDeadline(state);
                }
                catch (Exception)
                {
                    // A continuation's own failure is its caller's; the thread goes on releasing the others.
                }
            }

            due.Clear();
        }
    }

    /// <summary>Pops every entry due at <paramref name="now"/>: a stale one is dropped, a waiter re-armed for later is
    /// scheduled again, a waiter whose deadline passed goes to <paramref name="due"/> with the arming it fires.</summary>
    private void TakeDue(long now, List<(DeadlineTarget Waiter, long State)> due)
    {
        while (_count > 0 && _heap[0].Deadline <= now)
        {
            var entry = Pop();
            var waiter = entry.Waiter;
            if (waiter.ScheduledAt != entry.Deadline)
            {
                continue; // superseded by an earlier entry of the same waiter
            }

            // The waiter has no live entry from here on; the full fence pairs with the one after a new arming, so either
            // that arming sees no entry and schedules itself, or this read sees the arming.
            Interlocked.Exchange(ref waiter.ScheduledAt, long.MaxValue);
            var (state, deadline) = waiter.Arming;
            if ((state & 1) != 0)
            {
                continue; // ended (or fired); its next arming schedules itself
            }

            if (deadline <= now)
            {
                due.Add((waiter, state));
            }
            else
            {
                Volatile.Write(ref waiter.ScheduledAt, deadline);
                Push(new Entry(deadline, waiter));
            }
        }
    }

    private int WaitMilliseconds(long until, long now)
    {
        if (until == long.MaxValue)
        {
            return Timeout.Infinite;
        }

        // Rounded up: waking a little late is the timer's resolution, waking early only loops.
        var ms = Math.Ceiling((until - now) * 1000.0 / _time.TimestampFrequency);
        return (int)Math.Clamp(ms, 1, int.MaxValue);
    }

    private void Push(Entry entry)
    {
        if (_count == _heap.Length)
        {
            Array.Resize(ref _heap, _heap.Length * 2);
        }

        var i = _count++;
        while (i > 0)
        {
            var parent = (i - 1) >> 1;
            if (_heap[parent].Deadline <= entry.Deadline)
            {
                break;
            }

            _heap[i] = _heap[parent];
            i = parent;
        }

        _heap[i] = entry;
    }

    private Entry Pop()
    {
        var top = _heap[0];
        var last = _heap[--_count];
        _heap[_count] = default;
        if (_count > 0)
        {
            var i = 0;
            while (true)
            {
                var child = (2 * i) + 1;
                if (child >= _count)
                {
                    break;
                }

                if (child + 1 < _count && _heap[child + 1].Deadline < _heap[child].Deadline)
                {
                    child++;
                }

                if (last.Deadline <= _heap[child].Deadline)
                {
                    break;
                }

                _heap[i] = _heap[child];
                i = child;
            }

            _heap[i] = last;
        }

        return top;
    }

    private readonly record struct Entry(long Deadline, DeadlineTarget Waiter);
}
