namespace HaClient.Postgres;

/// <summary>
/// The degradation ladder of one read, the seed guides' "primary → degraded → cached" (opt-in): when no node meets the
/// lag bound and no primary can serve the read (the primary is down and every replica has aged out, as in the middle of a
/// failover), the read steps down instead of failing: first to a replica at most <see cref="MaxStaleness"/> behind, then
/// to <see cref="FromCache"/> (the application's own cache entry for this read, for example from <c>HybridCache</c>),
/// used only when it is no older than <see cref="MaxStaleness"/> either.
/// </summary>
/// <typeparam name="T">The read's result.</typeparam>
public sealed class ReadLadder<T>
{
    /// <summary>Creates a ladder.</summary>
    /// <param name="maxStaleness">The most staleness any step may serve (above 0).</param>
    /// <param name="fromCache">The last step, or <see langword="null"/> for none: the cached value and when it was stored,
    /// or <see langword="null"/> when there is none.</param>
    public ReadLadder(TimeSpan maxStaleness, Func<CancellationToken, ValueTask<CachedRead<T>?>>? fromCache = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(maxStaleness, TimeSpan.Zero);
        MaxStaleness = maxStaleness;
        FromCache = fromCache;
    }

    /// <summary>The most staleness any step may serve.</summary>
    public TimeSpan MaxStaleness { get; }

    /// <summary>The cache step, or <see langword="null"/>.</summary>
    public Func<CancellationToken, ValueTask<CachedRead<T>?>>? FromCache { get; }
}

/// <summary>A value from the application's cache, with when it was stored (<see cref="ReadLadder{T}.FromCache"/>).</summary>
/// <typeparam name="T">The value.</typeparam>
/// <param name="Value">The cached value.</param>
/// <param name="StoredAt">When it was read from the database and stored.</param>
public readonly record struct CachedRead<T>(T Value, DateTimeOffset StoredAt);

/// <summary>Which step of the ladder served a read.</summary>
public enum ReadStep
{
    /// <summary>A replica within the lag bound, or the primary.</summary>
    Fresh = 0,

    /// <summary>A replica beyond the lag bound, within the ladder's staleness.</summary>
    StaleReplica = 1,

    /// <summary>The application's cache.</summary>
    Cache = 2,
}

/// <summary>What a read on the ladder returned: the value, the step that served it and how stale it may be.</summary>
/// <typeparam name="T">The value.</typeparam>
/// <param name="Value">The read's result.</param>
/// <param name="Step">The step that served it.</param>
/// <param name="Staleness">How far behind the primary's acknowledged writes the answer may be: zero from the primary,
/// the replica's staleness (judged against the primary's WAL positions, as the lag bound is) or the cache entry's age.</param>
/// <param name="Endpoint">host:port that served it, or <see langword="null"/> from the cache.</param>
public readonly record struct LadderRead<T>(T Value, ReadStep Step, TimeSpan Staleness, string? Endpoint);
