namespace HaClient.Postgres;

/// <summary>What a read needs to see. The default is <see cref="WithinLagBound"/>.</summary>
public readonly struct ReadConsistency : IEquatable<ReadConsistency>
{
    private readonly long _maxStalenessTicks;

    private ReadConsistency(ReadConsistencyKind kind, ConsistencyToken token, long maxStalenessTicks = 0)
    {
        Kind = kind;
        Token = token;
        _maxStalenessTicks = maxStalenessTicks;
    }

    /// <summary>A replica within the cluster's <see cref="ReplicaLagPolicy"/>, else the primary when
    /// <see cref="PostgresClusterOptions.FallbackToPrimary"/>.</summary>
    public static ReadConsistency WithinLagBound => default;

    /// <summary>The primary only.</summary>
    public static ReadConsistency Primary => new(ReadConsistencyKind.Primary, default);

    /// <summary>A node that has replayed past <paramref name="token"/> (and is within the lag bound), else the primary. An
    /// empty token means <see cref="WithinLagBound"/>.</summary>
    public static ReadConsistency AtLeast(ConsistencyToken token)
        => token.IsEmpty ? default : new(ReadConsistencyKind.AtLeast, token);

    /// <summary>
    /// The first step of the degradation ladder (opt-in): a bounded read that finds no replica within the lag bound and no
    /// primary to fall back to (the primary is down and every replica has aged out, as in the middle of a failover) may
    /// go to a replica that is at most <paramref name="maxStaleness"/> behind, instead of failing.
    /// <see cref="PostgresCluster.ExecuteReadWithLadderAsync{T}"/> reports which step served a read and how stale it was.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxStaleness"/> is not positive.</exception>
    /// <exception cref="InvalidOperationException">This is not <see cref="WithinLagBound"/> (a token or the primary
    /// cannot be traded for staleness).</exception>
    public ReadConsistency OrStale(TimeSpan maxStaleness)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(maxStaleness, TimeSpan.Zero);
        if (Kind != ReadConsistencyKind.WithinLagBound)
        {
            throw new InvalidOperationException($"OrStale: only a bounded read (WithinLagBound) may step down to a staler replica, not {this}.");
        }

        return new(Kind, Token, maxStaleness.Ticks);
    }

    /// <summary>How stale a replica this read accepts when none is within the bound and no primary can serve it
    /// (<see cref="OrStale"/>); zero: none.</summary>
    public TimeSpan MaxStaleness => new(_maxStalenessTicks);

    /// <summary>What is asked for.</summary>
    public ReadConsistencyKind Kind { get; }

    /// <summary>The token, for <see cref="ReadConsistencyKind.AtLeast"/>.</summary>
    public ConsistencyToken Token { get; }

    /// <summary>A token converts to <see cref="AtLeast"/>.</summary>
    public static implicit operator ReadConsistency(ConsistencyToken token) => AtLeast(token);

    /// <inheritdoc />
    public bool Equals(ReadConsistency other) => Kind == other.Kind && Token == other.Token && _maxStalenessTicks == other._maxStalenessTicks;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is ReadConsistency r && Equals(r);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Kind, Token, _maxStalenessTicks);

    /// <summary>Equality.</summary>
    public static bool operator ==(ReadConsistency left, ReadConsistency right) => left.Equals(right);

    /// <summary>Inequality.</summary>
    public static bool operator !=(ReadConsistency left, ReadConsistency right) => !left.Equals(right);

    /// <inheritdoc />
    public override string ToString() => Kind == ReadConsistencyKind.AtLeast ? $"AtLeast({Token})" : _maxStalenessTicks > 0 ? $"{Kind}.OrStale({MaxStaleness})" : Kind.ToString();
}

/// <summary>The kinds of <see cref="ReadConsistency"/>.</summary>
public enum ReadConsistencyKind
{
    /// <summary>A replica within the lag bound.</summary>
    WithinLagBound = 0,

    /// <summary>The primary.</summary>
    Primary = 1,

    /// <summary>A node past a write's token.</summary>
    AtLeast = 2,
}
