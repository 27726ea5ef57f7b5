namespace HaClient.Postgres;

/// <summary>What a read needs to see. The default is <see cref="WithinLagBound"/>.</summary>
public readonly struct ReadConsistency : IEquatable<ReadConsistency>
{
    private ReadConsistency(ReadConsistencyKind kind, ConsistencyToken token)
    {
        Kind = kind;
        Token = token;
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

    /// <summary>What is asked for.</summary>
    public ReadConsistencyKind Kind { get; }

    /// <summary>The token, for <see cref="ReadConsistencyKind.AtLeast"/>.</summary>
    public ConsistencyToken Token { get; }

    /// <summary>A token converts to <see cref="AtLeast"/>.</summary>
    public static implicit operator ReadConsistency(ConsistencyToken token) => AtLeast(token);

    /// <inheritdoc />
    public bool Equals(ReadConsistency other) => Kind == other.Kind && Token == other.Token;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is ReadConsistency r && Equals(r);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Kind, Token);

    /// <summary>Equality.</summary>
    public static bool operator ==(ReadConsistency left, ReadConsistency right) => left.Equals(right);

    /// <summary>Inequality.</summary>
    public static bool operator !=(ReadConsistency left, ReadConsistency right) => !left.Equals(right);

    /// <inheritdoc />
    public override string ToString() => Kind == ReadConsistencyKind.AtLeast ? $"AtLeast({Token})" : Kind.ToString();
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
