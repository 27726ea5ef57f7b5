namespace HaClient.Postgres;

/// <summary>What the monitor knows of one host, from one probe. Every public property is fixed when the probe is
/// published; only the internal <see cref="CurrentAsOfTimestamp"/> of a replica moves on afterwards (the monitor raises
/// it, under its lock, as newer samples of the primary's WAL position show the replica holds more).</summary>
public sealed class PostgresHostState
{
    internal PostgresHostState(HostEndpoint endpoint, PostgresRole role, int timeline, ulong walLsn, double? replayLagSeconds, long probedAtTimestamp, DateTimeOffset probedAt, TimeSpan probeDuration, string? error)
    {
        Endpoint = endpoint;
        Role = role;
        Timeline = timeline;
        WalLsn = walLsn;
        ReplayLagSeconds = replayLagSeconds;
        ProbedAtTimestamp = probedAtTimestamp;
        ProbedAt = probedAt;
        ProbeDuration = probeDuration;
        Error = error;
    }

    /// <summary>The host.</summary>
    public HostEndpoint Endpoint { get; }

    /// <summary>Its role.</summary>
    public PostgresRole Role { get; }

    /// <summary>Its timeline (0 when unknown). A replica whose WAL receiver is not running shows the timeline it was last
    /// seen on (streaming, or as primary).</summary>
    public int Timeline { get; }

    /// <summary>The current WAL position on a primary; the replay position on a replica (0 when unknown).</summary>
    public ulong WalLsn { get; }

    /// <summary>Replay lag in seconds on a replica when the probe ran: 0 when everything received is replayed.</summary>
    public double? ReplayLagSeconds { get; }

    /// <summary>When the probe completed (wall clock).</summary>
    public DateTimeOffset ProbedAt { get; }

    /// <summary>How long the probe took.</summary>
    public TimeSpan ProbeDuration { get; }

    /// <summary>Why the last probe failed (exception type and message; never credentials).</summary>
    public string? Error { get; }

    /// <summary>The probe's timestamp on the component's <see cref="TimeProvider"/>.</summary>
    internal long ProbedAtTimestamp { get; }

    /// <summary>For a replica: the <see cref="TimeProvider"/> timestamp as of which it holds every write the primary had
    /// acknowledged (from <see cref="PrimaryWalHistory"/>); 0 when unknown. Set by the monitor before publishing and raised
    /// after it (only ever raised, read with a volatile read by the router).</summary>
    internal long CurrentAsOfTimestamp
    {
        get => Volatile.Read(ref _currentAsOf);
        set => Volatile.Write(ref _currentAsOf, value);
    }

    private long _currentAsOf;

    /// <summary>The host's circuit breaker as it is now: read live from the breaker, which changes between probes (not
    /// fixed at publication like the rest).</summary>
    public HaClient.Resilience.BreakerState Breaker => Circuit?.State ?? HaClient.Resilience.BreakerState.Closed;

    /// <summary>The host's zone (<see cref="PostgresClusterOptions.Zones"/>), or <see langword="null"/> when it is in none.</summary>
    public string? Zone => Slot?.Zone;

    /// <summary>The host's recent response time as it is now, smoothed over probe round trips and reads (read live, like
    /// <see cref="Breaker"/>); <see langword="null"/> before the first sample.</summary>
    public TimeSpan? ResponseTime => Slot is { } slot ? HaClient.Routing.ResponseTime.Read(ref slot.ResponseTicks) : null;

    /// <summary>The host's slot, attached when the state is stored.</summary>
    internal HostSlot? Slot { get; set; }

    /// <summary>The host's breaker, attached by its slot when the state is stored.</summary>
    internal HaClient.Resilience.EndpointCircuit? Circuit { get; set; }

    /// <summary>The same probe on <paramref name="timeline"/> (before it is stored: <see cref="CurrentAsOfTimestamp"/> is
    /// not carried over).</summary>
    internal PostgresHostState WithTimeline(int timeline) => new(Endpoint, Role, timeline, WalLsn, ReplayLagSeconds, ProbedAtTimestamp, ProbedAt, ProbeDuration, Error);

    internal static PostgresHostState Initial(HostEndpoint endpoint) => new(endpoint, PostgresRole.Unknown, 0, 0, null, 0, default, TimeSpan.Zero, null);
}
