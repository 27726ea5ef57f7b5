using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace HaClient.Redis;

/// <summary>
/// A Redis read-your-writes token: the primary's replication offset just after a write, with the primary's replication
/// ID (the history the offset belongs to). A read given the token is served only by a node that has processed past that
/// offset on the same replication history, else by the primary. Its string form (<c>replid:offset</c>, the 40
/// hexadecimal digits of <c>master_replid</c> and the decimal <c>master_repl_offset</c> as <c>INFO replication</c>
/// shows them) travels between requests like the PostgreSQL token.
/// </summary>
/// <remarks>Tokens arrive from clients, so they are input: <see cref="TryParse(string?, out RedisConsistencyToken)"/>
/// accepts only that exact form, and a deployment ignores a token whose replication ID none of its nodes knows (another
/// deployment's, or another shard's in cluster mode).</remarks>
public readonly struct RedisConsistencyToken : IEquatable<RedisConsistencyToken>
{
    /// <summary>The length of a Redis replication ID (hexadecimal digits).</summary>
    internal const int ReplicationIdLength = 40;

    /// <summary>Creates a token for <paramref name="offset"/> on the history <paramref name="replicationId"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="replicationId"/> is not 40 hexadecimal digits.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="offset"/> is negative.</exception>
    public RedisConsistencyToken(string replicationId, long offset)
    {
        if (!IsReplicationId(replicationId))
        {
            throw new ArgumentException("A Redis replication ID is 40 hexadecimal digits (INFO replication: master_replid).", nameof(replicationId));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ReplicationId = replicationId.ToLowerInvariant();
        Offset = offset;
    }

    /// <summary>The primary's replication ID when the write was made (<c>master_replid</c>); <see langword="null"/> for
    /// the empty token.</summary>
    public string? ReplicationId { get; }

    /// <summary>The primary's replication offset just after the write (bytes).</summary>
    public long Offset { get; }

    /// <summary>Whether this is the empty token (no write seen).</summary>
    public bool IsEmpty => ReplicationId is null;

    /// <summary>The token to keep of two: the later offset on one history; <paramref name="newer"/> across histories (a
    /// write after a failover is on the new history), and either when the other is empty.</summary>
    public static RedisConsistencyToken Latest(RedisConsistencyToken older, RedisConsistencyToken newer)
    {
        if (newer.IsEmpty)
        {
            return older;
        }

        return older.IsEmpty || older.ReplicationId != newer.ReplicationId || newer.Offset >= older.Offset ? newer : older;
    }

    /// <summary>Parses the <c>replid:offset</c> form (40 hexadecimal digits, a colon, a decimal offset).</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, out RedisConsistencyToken token) => TryParse(text.AsSpan(), out token);

    /// <summary>Parses the <c>replid:offset</c> form (40 hexadecimal digits, a colon, a decimal offset).</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out RedisConsistencyToken token)
    {
        token = default;
        if (text.Length < ReplicationIdLength + 2 || text.Length > ReplicationIdLength + 1 + 19 || text[ReplicationIdLength] != ':')
        {
            return false;
        }

        var id = text[..ReplicationIdLength];
        var digits = text[(ReplicationIdLength + 1)..];
        if (!IsHex(id) || !IsDigits(digits) || !long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var offset))
        {
            return false;
        }

        token = new RedisConsistencyToken(id.ToString(), offset);
        return true;
    }

    /// <summary>Parses the <c>replid:offset</c> form or throws <see cref="FormatException"/>.</summary>
    public static RedisConsistencyToken Parse(string text)
        => TryParse(text, out var t) ? t : throw new FormatException("A Redis consistency token is a replication ID (40 hexadecimal digits), a colon and a decimal offset, such as '8f2c...:12345'.");

    /// <summary>The <c>replid:offset</c> form; the empty string for the empty token.</summary>
    public override string ToString() => IsEmpty ? string.Empty : string.Create(CultureInfo.InvariantCulture, $"{ReplicationId}:{Offset}");

    /// <inheritdoc />
    public bool Equals(RedisConsistencyToken other) => ReplicationId == other.ReplicationId && Offset == other.Offset;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is RedisConsistencyToken t && Equals(t);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(ReplicationId, Offset);

    /// <summary>Equality.</summary>
    public static bool operator ==(RedisConsistencyToken left, RedisConsistencyToken right) => left.Equals(right);

    /// <summary>Inequality.</summary>
    public static bool operator !=(RedisConsistencyToken left, RedisConsistencyToken right) => !left.Equals(right);

    internal static bool IsReplicationId([NotNullWhen(true)] string? text) => text is { Length: ReplicationIdLength } && IsHex(text);

    private static bool IsHex(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (!char.IsAsciiHexDigit(c))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsDigits(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return true;
    }
}
