namespace HaClient.Resilience;

/// <summary>
/// The time one operation may take, from the moment it started: every wait (for a primary, for a connection) and the
/// call itself draw on it. Read on the <see cref="System.TimeProvider"/> the operation was started with, so a test can
/// drive it with a fake clock.
/// </summary>
public readonly struct OperationDeadline
{
    private readonly TimeProvider? _time;
    private readonly long _startedAt;

    /// <summary>Starts a deadline of <paramref name="budget"/> now, on <paramref name="timeProvider"/>.</summary>
    public OperationDeadline(TimeProvider timeProvider, TimeSpan budget)
    {
        ArgumentNullException.ThrowIfNull(timeProvider);
        _time = timeProvider;
        _startedAt = timeProvider.GetTimestamp();
        Budget = budget;
    }

    /// <summary>The whole time the operation may take.</summary>
    public TimeSpan Budget { get; }

    /// <summary>The clock the deadline runs on.</summary>
    public TimeProvider TimeProvider => _time ?? TimeProvider.System;

    /// <summary>The time since the operation started.</summary>
    public TimeSpan Elapsed => _time is null ? TimeSpan.Zero : _time.GetElapsedTime(_startedAt);

    /// <summary>The time left; <see cref="TimeSpan.Zero"/> once the deadline has passed.</summary>
    public TimeSpan Remaining
    {
        get
        {
            var left = Budget - Elapsed;
            return left > TimeSpan.Zero ? left : TimeSpan.Zero;
        }
    }

    /// <summary>Whether the deadline has passed.</summary>
    public bool IsExpired => Elapsed >= Budget;
}
