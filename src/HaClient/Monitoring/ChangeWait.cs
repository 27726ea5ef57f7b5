using HaClient.Resilience;

namespace HaClient.Monitoring;

/// <summary>
/// One caller's wait for a topology change on the system clock (<see cref="TopologyChangeSignal.WhenChangedAsync"/>):
/// completes when the change comes (on the wake thread), fails with <see cref="TimeoutException"/> at its timeout (on
/// HaClient's deadline thread, <see cref="DeadlineThread"/>, not a thread-pool timer), or is cancelled with the
/// caller's token. Whichever comes first; the caller's continuation runs on the thread that ended the wait.
/// </summary>
internal sealed class ChangeWait : DeadlineTarget
{
    private readonly TaskCompletionSource _promise = new();
    private readonly long _deadline;
    private CancellationTokenRegistration _registration;

    private ChangeWait(long deadline) => _deadline = deadline;

    /// <summary>Starts the wait for <paramref name="changed"/> (not completed), for at most <paramref name="timeout"/>.</summary>
    public static Task Start(Task changed, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var time = TimeProvider.System;
        var wait = new ChangeWait(time.GetTimestamp() + (long)(Budget.AtLeastOneMillisecond(timeout).TotalSeconds * time.TimestampFrequency));
        changed.ContinueWith(static (_, s) => ((ChangeWait)s!).End(null), wait, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        if (cancellationToken.CanBeCanceled)
        {
            wait._registration = cancellationToken.UnsafeRegister(static (s, token) => ((ChangeWait)s!).End(new OperationCanceledException(token)), wait);
            if (wait._promise.Task.IsCompleted)
            {
                wait._registration.Dispose();
            }
        }

        DeadlineThread.Instance.Schedule(wait, wait._deadline);
        return wait._promise.Task;
    }

    /// <inheritdoc />
    internal override (long State, long Deadline) Arming => (_promise.Task.IsCompleted ? 1 : 0, _deadline);

    /// <inheritdoc />
    internal override void FireDeadline(long state) => End(new TimeoutException());

    private void End(Exception? failure)
    {
        var ended = failure switch
        {
            null => _promise.TrySetResult(),
            OperationCanceledException cancelled => _promise.TrySetCanceled(cancelled.CancellationToken),
            _ => _promise.TrySetException(failure),
        };
        if (ended)
        {
            _registration.Dispose();
        }
    }
}
