using HaClient.Resilience;

namespace HaClient.Monitoring;

/// <summary>
/// One caller's wait for a topology change (<see cref="TopologyChangeSignal.WhenChangedAsync"/>): completes with
/// <see langword="true"/> when the change comes (on the wake thread), with <see langword="false"/> at its timeout (on
/// the system clock on HaClient's deadline thread, <see cref="DeadlineThread"/>, not a thread-pool timer; on another
/// clock on that clock's timer), or is cancelled with the caller's token. Whichever comes first; the caller's
/// continuation runs on the thread that ended the wait.
/// </summary>
/// <remarks>
/// A wait that ends leaves nothing behind on the signal: it is registered on the signal's generation as a cancellation
/// callback, which it unregisters when it ends. (Each wait used to add a continuation to the generation's task, which
/// no one can remove: during a 10 s outage with no primary, 400 callers re-checking every 50 ms left ~40,000 of them,
/// each holding its wait and its timeout's exception, alive until the next change, which the GC then had to promote.)
/// A timeout is a result, not an exception: nothing is thrown, caught or finalized per re-check.
/// </remarks>
internal sealed class ChangeWait : DeadlineTarget
{
    private readonly TaskCompletionSource<bool> _promise = new();
    private readonly long _deadline;
    private CancellationTokenRegistration _woken;
    private CancellationTokenRegistration _cancelled;
    private ITimer? _timer;
    private int _ended;

    private ChangeWait(long deadline) => _deadline = deadline;

    /// <summary>Starts the wait for <paramref name="changed"/> (not completed), woken through <paramref name="wakeup"/>
    /// (its generation's token; <see langword="default"/> for a task that is not a signal's, which is then waited on
    /// through a continuation), for at most <paramref name="timeout"/> on <paramref name="time"/>.</summary>
    public static Task<bool> Start(Task changed, CancellationToken wakeup, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        timeout = Budget.AtLeastOneMillisecond(timeout);
        var system = ReferenceEquals(time, TimeProvider.System);
        var wait = new ChangeWait(system ? time.GetTimestamp() + (long)(timeout.TotalSeconds * time.TimestampFrequency) : 0);
        if (wakeup.CanBeCanceled)
        {
            wait._woken = wakeup.UnsafeRegister(static s => ((ChangeWait)s!).End(Outcome.Changed), wait);
        }
        else
        {
            changed.ContinueWith(static (_, s) => ((ChangeWait)s!).End(Outcome.Changed), wait, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        if (cancellationToken.CanBeCanceled)
        {
            wait._cancelled = cancellationToken.UnsafeRegister(static (s, token) => ((ChangeWait)s!).End(Outcome.Cancelled, token), wait);
        }

        if (system)
        {
            DeadlineThread.Instance.Schedule(wait, wait._deadline);
        }
        else
        {
            wait._timer = time.CreateTimer(static s => ((ChangeWait)s!).End(Outcome.TimedOut), wait, timeout, Timeout.InfiniteTimeSpan);
        }

        if (Volatile.Read(ref wait._ended) != 0)
        {
            // It ended while being set up (before a registration or the timer was stored): release what is left.
            wait.Release();
        }

        return wait._promise.Task;
    }

    /// <inheritdoc />
    internal override (long State, long Deadline) Arming => (Volatile.Read(ref _ended), _deadline);

    /// <inheritdoc />
    internal override void FireDeadline(long state) => End(Outcome.TimedOut);

    private void End(Outcome outcome, CancellationToken token = default)
    {
        if (Interlocked.Exchange(ref _ended, 1) != 0)
        {
            return;
        }

        // Released before the caller resumes (inline, here): it may run on to its next wait.
        Release();
        _ = outcome switch
        {
            Outcome.Changed => _promise.TrySetResult(true),
            Outcome.TimedOut => _promise.TrySetResult(false),
            _ => _promise.TrySetCanceled(token),
        };
    }

    // Unregister never waits for a callback that is running (Dispose would): this may run inside one of them.
    private void Release()
    {
        _woken.Unregister();
        _cancelled.Unregister();
        _timer?.Dispose();
    }

    private enum Outcome
    {
        Changed,
        TimedOut,
        Cancelled,
    }
}
