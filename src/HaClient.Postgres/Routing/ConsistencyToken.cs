using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace HaClient.Postgres;

/// <summary>
/// A read-your-writes token: the WAL position (LSN) a write reached on the primary. A read given the token is served
/// only by a node that has replayed past it, else by the primary. Its string form is PostgreSQL's own LSN text
/// (<c>16/B374D848</c>): compact, safe in headers and cookies, and meaningful to any PostgreSQL tool.
/// </summary>
public readonly struct ConsistencyToken : IEquatable<ConsistencyToken>, IComparable<ConsistencyToken>
{
    /// <summary>Creates a token for <paramref name="lsn"/>.</summary>
    public ConsistencyToken(ulong lsn) => Lsn = lsn;

    /// <summary>The WAL position.</summary>
    public ulong Lsn { get; }

    /// <summary>Whether this is the empty token (no write seen).</summary>
    public bool IsEmpty => Lsn == 0;

    /// <summary>The later of two tokens.</summary>
    public static ConsistencyToken Max(ConsistencyToken a, ConsistencyToken b) => a.Lsn >= b.Lsn ? a : b;

    /// <summary>Parses the <c>X/Y</c> hexadecimal form.</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, out ConsistencyToken token) => TryParse(text.AsSpan(), out token);

    /// <summary>Parses the <c>X/Y</c> hexadecimal form.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out ConsistencyToken token)
    {
        token = default;
        var slash = text.IndexOf('/');
        if (slash <= 0 || slash > 8 || text.Length - slash - 1 is < 1 or > 8)
        {
            return false;
        }

        if (!uint.TryParse(text[..slash], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var hi)
            || !uint.TryParse(text[(slash + 1)..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var lo))
        {
            return false;
        }

        token = new ConsistencyToken(((ulong)hi << 32) | lo);
        return true;
    }

    /// <summary>Parses the <c>X/Y</c> hexadecimal form or throws <see cref="FormatException"/>.</summary>
    public static ConsistencyToken Parse(string text)
        => TryParse(text, out var t) ? t : throw new FormatException("A consistency token is a PostgreSQL LSN such as '16/B374D848'.");

    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{(uint)(Lsn >> 32):X}/{(uint)Lsn:X}");

    /// <inheritdoc />
    public bool Equals(ConsistencyToken other) => Lsn == other.Lsn;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is ConsistencyToken t && Equals(t);

    /// <inheritdoc />
    public override int GetHashCode() => Lsn.GetHashCode();

    /// <inheritdoc />
    public int CompareTo(ConsistencyToken other) => Lsn.CompareTo(other.Lsn);

    /// <summary>Equality.</summary>
    public static bool operator ==(ConsistencyToken left, ConsistencyToken right) => left.Equals(right);

    /// <summary>Inequality.</summary>
    public static bool operator !=(ConsistencyToken left, ConsistencyToken right) => !left.Equals(right);

    /// <summary>Ordering.</summary>
    public static bool operator <(ConsistencyToken left, ConsistencyToken right) => left.Lsn < right.Lsn;

    /// <summary>Ordering.</summary>
    public static bool operator >(ConsistencyToken left, ConsistencyToken right) => left.Lsn > right.Lsn;

    /// <summary>Ordering.</summary>
    public static bool operator <=(ConsistencyToken left, ConsistencyToken right) => left.Lsn <= right.Lsn;

    /// <summary>Ordering.</summary>
    public static bool operator >=(ConsistencyToken left, ConsistencyToken right) => left.Lsn >= right.Lsn;
}
