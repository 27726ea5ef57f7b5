using System.Threading.Tasks.Sources;

namespace HaClient.Resilience;

/// <summary>
/// What a bounded call waits on: the first of the call's own completion, its deadline, the caller's cancellation, or
/// its endpoint being abandoned (found down). Pooled and reused: a call costs no timer, no promise and no delegate
/// (<see cref="Task.WaitAsync(TimeSpan, TimeProvider, CancellationToken)"/> allocates about 120 B of them per call),
/// and abandonment reaches every waiting caller at once instead of at its deadline.
/// </summary>
/// <remarks>
/// A waiter is referenced by the awaiting caller, by the call's task continuation (which always runs, possibly long
/// after the caller left) and by the endpoint's in-flight registry; it returns to the pool when all three let go. On the
/// system clock its deadline is kept by HaClient's deadline thread (<see cref="DeadlineThread"/>), so a starved thread
/// pool does not hold the release; on any other <see cref="TimeProvider"/> (a test's fake clock) by a timer of that
/// provider, reused and never stopped. Either way every fire is tied to the arming (generation) it saw, so a late fire
/// of an earlier use does nothing.
/// </remarks>
internal sealed class CallWaiter : DeadlineTarget, IValueTaskSource<CallWaiter.Reason>
{
    /// <summary>Why the wait ended.</summary>
    public enum Reason
    {
        /// <summary>The call ended (successfully or not): its task holds the outcome.</summary>
        Completed = 1,

        /// <summary>The deadline passed first.</summary>
        Deadline = 2,

        /// <summary>The endpoint was found down while the call was in flight.</summary>
        Abandoned = 3,

        /// <summary>The caller cancelled.</summary>
        Cancelled = 4,
    }

    private static readonly ReusePool<CallWaiter> s_pool = new(Math.Max(32, Environment.ProcessorCount * 16));

    private readonly Action _onCallCompleted;
    private ManualResetValueTaskSourceCore<Reason> _core;
    private ITimer? _timer;
    private TimeProvider? _timerClock;
    private TimeProvider _time = TimeProvider.System;
    private long _deadline;
    private CancellationTokenRegistration _callerRegistration;

    // (generation << 1) | fired. A new arming moves to the next generation; a fire succeeds only on the generation it
    // read, so a late callback of the reused timer can never end a later wait.
    private long _state;
    private int _refs;

    private CallWaiter()
    {
        _onCallCompleted = () => Release(fire: Reason.Completed);
        _core.RunContinuationsAsynchronously = false;
    }

    /// <summary>Rents a waiter and arms it for <paramref name="call"/>: it completes at the first of the call's end,
    /// <paramref name="remaining"/> on <paramref name="time"/>, or <paramref name="callerToken"/>'s cancellation. The
    /// caller awaits <see cref="AsValueTask"/> exactly once, then calls <see cref="ReleaseRegistry"/> or lets the
    /// registry do it.</summary>
    public static CallWaiter Arm(Task call, TimeSpan remaining, TimeProvider time, CancellationToken callerToken)
    {
        remaining = Budget.AtLeastOneMillisecond(remaining); // an expired budget still gets a moment, as a timer's would
        var waiter = s_pool.TryRent() ?? new CallWaiter();
        waiter._refs = 3; // the awaiter, the call's continuation, the in-flight registry
        waiter._time = time;
        var deadline = time.GetTimestamp() + (long)(remaining.TotalSeconds * time.TimestampFrequency);
        Volatile.Write(ref waiter._deadline, deadline);
        // Next generation, not fired. A full fence: the deadline thread reads the arming after giving up the waiter's
        // entry, and the arming reads the entry after this write (DeadlineThread.TakeDue).
        Interlocked.Exchange(ref waiter._state, (Volatile.Read(ref waiter._state) | 1) + 1);
        call.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(waiter._onCallCompleted);
        if (callerToken.CanBeCanceled)
        {
            waiter._callerRegistration = callerToken.UnsafeRegister(static s => ((CallWaiter)s!).Fire(Reason.Cancelled), waiter);
        }

        if (ReferenceEquals(time, TimeProvider.System))
        {
            DeadlineThread.Instance.Schedule(waiter, deadline);
        }
        else
        {
            waiter.StartTimer(remaining);
        }

        return waiter;
    }

    /// <summary>The wait, to await once.</summary>
    public ValueTask<Reason> AsValueTask() => new(this, _core.Version);

    /// <summary>Ends the wait because the endpoint was found down. Called by the registry that held the waiter; it
    /// gives up the registry's reference.</summary>
    public void Abandon()
    {
        Fire(Reason.Abandoned);
        Release(fire: null);
    }

    /// <summary>The awaiting caller took the waiter out of the registry itself: give up the registry's reference.</summary>
    public void ReleaseRegistry() => Release(fire: null);

    private void StartTimer(TimeSpan due)
    {
        if (_timer is null || !ReferenceEquals(_timerClock, _time))
        {
            _timer?.Dispose();
            _timerClock = _time;
            _timer = _time.CreateTimer(static s => ((CallWaiter)s!).OnTimer(), this, due, Timeout.InfiniteTimeSpan);
        }
        else
        {
            _timer.Change(due, Timeout.InfiniteTimeSpan);
        }
    }

    private void OnTimer()
    {
        // The timer is reused and never stopped: a callback may belong to an earlier use. It acts only on the generation
        // it read, and only once that generation's deadline has passed.
        var state = Volatile.Read(ref _state);
        if ((state & 1) == 0 && _time.GetTimestamp() >= Volatile.Read(ref _deadline))
        {
            Fire(Reason.Deadline, state);
        }
    }

    /// <inheritdoc />
    /// <remarks>The deadline is written before the state, so the state read first tells which arming the deadline is
    /// of.</remarks>
    internal override (long State, long Deadline) Arming
    {
        get
        {
            var state = Volatile.Read(ref _state);
            return (state, Volatile.Read(ref _deadline));
        }
    }

    /// <inheritdoc />
    internal override void FireDeadline(long state) => Fire(Reason.Deadline, state);

    private void Fire(Reason reason) => Fire(reason, Volatile.Read(ref _state));

    private void Fire(Reason reason, long state)
    {
        if ((state & 1) == 0 && Interlocked.CompareExchange(ref _state, state | 1, state) == state)
        {
            _core.SetResult(reason);
        }
    }

    private void Release(Reason? fire)
    {
        if (fire is { } reason)
        {
            Fire(reason);
        }

        if (Interlocked.Decrement(ref _refs) == 0)
        {
            Recycle();
        }
    }

    private void Recycle()
    {
        _callerRegistration.Dispose();
        _callerRegistration = default;
        _core.Reset();
        if (!s_pool.TryReturn(this))
        {
            _timer?.Dispose();
        }
    }

    Reason IValueTaskSource<Reason>.GetResult(short token)
    {
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            // The awaiter is done with the waiter. The timer is left armed: re-arming moves it, and a late fire is a
            // no-op (one timer operation per call instead of three).
            Release(fire: null);
        }
    }

    ValueTaskSourceStatus IValueTaskSource<Reason>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<Reason>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);
}
