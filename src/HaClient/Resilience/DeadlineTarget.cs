namespace HaClient.Resilience;

/// <summary>
/// What <see cref="DeadlineThread"/> releases at a deadline on the system clock: a bounded call's waiter
/// (<see cref="CallWaiter"/>, reused, armed again for each call) or a wait for a topology change (one-shot).
/// </summary>
internal abstract class DeadlineTarget
{
    /// <summary>The deadline of this target's live entry in <see cref="DeadlineThread"/>'s heap, or
    /// <see cref="long.MaxValue"/> when it has none (owned by that class).</summary>
    internal long ScheduledAt = long.MaxValue;

    /// <summary>The current arming: its state (bit 0 set once it ended or fired; the rest tells armings apart) and its
    /// deadline (a system-clock timestamp), the state read first.</summary>
    internal abstract (long State, long Deadline) Arming { get; }

    /// <summary>The deadline of the arming <paramref name="state"/> passed: end it, unless it ended meanwhile or was armed
    /// again. Runs on the deadline thread; what it completes continues there.</summary>
    internal abstract void FireDeadline(long state);
}
