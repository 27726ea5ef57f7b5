using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace HaClient.Postgres;

/// <summary>
/// A read-your-writes token: the WAL position (LSN) a write reached on the primary, and the cluster it was written to
/// (PostgreSQL's system identifier, <c>pg_control_system()</c>). A read given the token is served only by a node of that
/// cluster that has replayed past it, else by the primary. Its string form is the system identifier in decimal, a colon
/// and PostgreSQL's own LSN text (<c>7301234567890123456:16/B374D848</c>): compact and safe in headers and cookies.
/// </summary>
/// <remarks>
/// <para>Tokens arrive from clients, so they are input. A cluster ignores a token of another system identifier (another
/// cluster's: treated as no token). The older form without an identifier (<c>16/B374D848</c>, what earlier versions
/// wrote) still parses, as a token of whichever cluster it is given to (<see cref="SystemIdentifier"/> 0): a cookie
/// issued before an upgrade keeps its read-your-writes, and the next token written carries the identifier.</para>
/// <para>A token beyond the primary's position is capped by <see cref="PostgresCluster.CapToken"/> (the ASP.NET Core
/// middleware does it on every response).</para>
/// <para>Positions compare (<c>&lt;</c>, <see cref="CompareTo"/>) by LSN alone, which is meaningful within one cluster;
/// equality compares both parts.</para>
/// </remarks>
public readonly struct ConsistencyToken : IEquatable<ConsistencyToken>, IComparable<ConsistencyToken>
{
    /// <summary>Creates a token for <paramref name="lsn"/> of no particular cluster (<see cref="SystemIdentifier"/> 0).</summary>
    public ConsistencyToken(ulong lsn) => Lsn = lsn;

    /// <summary>Creates a token for <paramref name="lsn"/> on the cluster of system identifier
    /// <paramref name="systemIdentifier"/> (0: unknown, a token of whichever cluster it is given to).</summary>
    public ConsistencyToken(ulong lsn, ulong systemIdentifier)
    {
        Lsn = lsn;
        SystemIdentifier = systemIdentifier;
    }

    /// <summary>The WAL position.</summary>
    public ulong Lsn { get; }

    /// <summary>The system identifier of the cluster the write was made on (<c>pg_control_system()</c>); 0 when the
    /// token does not say (the older <c>X/Y</c> form).</summary>
    public ulong SystemIdentifier { get; }

    /// <summary>Whether this is the empty token (no write seen).</summary>
    public bool IsEmpty => Lsn == 0;

    /// <summary>The later of two tokens: the higher position (keeping the identifier either carries, when only one does);
    /// either when the other is empty; <paramref name="b"/> when they name different clusters (the newer write, as
    /// <c>RedisConsistencyToken.Latest</c> does across histories).</summary>
    public static ConsistencyToken Max(ConsistencyToken a, ConsistencyToken b)
    {
        if (a.IsEmpty || b.IsEmpty)
        {
            return a.IsEmpty ? b : a;
        }

        if (a.SystemIdentifier != 0 && b.SystemIdentifier != 0 && a.SystemIdentifier != b.SystemIdentifier)
        {
            return b;
        }

        return new ConsistencyToken(Math.Max(a.Lsn, b.Lsn), a.SystemIdentifier | b.SystemIdentifier);
    }

    /// <summary>Parses <c>identifier:X/Y</c> (a decimal system identifier above 0, a colon, a hexadecimal LSN) or the
    /// older <c>X/Y</c>.</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, out ConsistencyToken token) => TryParse(text.AsSpan(), out token);

    /// <summary>Parses <c>identifier:X/Y</c> (a decimal system identifier above 0, a colon, a hexadecimal LSN) or the
    /// older <c>X/Y</c>.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out ConsistencyToken token)
    {
        token = default;
        var systemIdentifier = 0UL;
        var colon = text.IndexOf(':');
        if (colon >= 0)
        {
            var digits = text[..colon];
            if (digits.Length is < 1 or > 20 || digits.ContainsAnyExceptInRange('0', '9')
                || !ulong.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out systemIdentifier) || systemIdentifier == 0)
            {
                return false;
            }

            text = text[(colon + 1)..];
        }

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

        token = new ConsistencyToken(((ulong)hi << 32) | lo, systemIdentifier);
        return true;
    }

    /// <summary>Parses <c>identifier:X/Y</c> or the older <c>X/Y</c>, or throws <see cref="FormatException"/> naming the
    /// argument.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is <see langword="null"/>.</exception>
    /// <exception cref="FormatException"><paramref name="text"/> is not a token.</exception>
    public static ConsistencyToken Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParse(text, out var t) ? t : throw new FormatException(
            $"{nameof(text)}: a consistency token is a PostgreSQL system identifier, a colon and an LSN, such as '7301234567890123456:16/B374D848' (or the older form without the identifier, '16/B374D848').");
    }

    /// <summary><c>identifier:X/Y</c>, or <c>X/Y</c> when the token names no cluster.</summary>
    public override string ToString() => SystemIdentifier == 0
        ? string.Create(CultureInfo.InvariantCulture, $"{(uint)(Lsn >> 32):X}/{(uint)Lsn:X}")
        : string.Create(CultureInfo.InvariantCulture, $"{SystemIdentifier}:{(uint)(Lsn >> 32):X}/{(uint)Lsn:X}");

    /// <inheritdoc />
    public bool Equals(ConsistencyToken other) => Lsn == other.Lsn && SystemIdentifier == other.SystemIdentifier;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is ConsistencyToken t && Equals(t);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Lsn, SystemIdentifier);

    /// <summary>Orders by position (<see cref="Lsn"/>) alone.</summary>
    public int CompareTo(ConsistencyToken other) => Lsn.CompareTo(other.Lsn);

    /// <summary>Equality.</summary>
    public static bool operator ==(ConsistencyToken left, ConsistencyToken right) => left.Equals(right);

    /// <summary>Inequality.</summary>
    public static bool operator !=(ConsistencyToken left, ConsistencyToken right) => !left.Equals(right);

    /// <summary>Ordering by position.</summary>
    public static bool operator <(ConsistencyToken left, ConsistencyToken right) => left.Lsn < right.Lsn;

    /// <summary>Ordering by position.</summary>
    public static bool operator >(ConsistencyToken left, ConsistencyToken right) => left.Lsn > right.Lsn;

    /// <summary>Ordering by position.</summary>
    public static bool operator <=(ConsistencyToken left, ConsistencyToken right) => left.Lsn <= right.Lsn;

    /// <summary>Ordering by position.</summary>
    public static bool operator >=(ConsistencyToken left, ConsistencyToken right) => left.Lsn >= right.Lsn;

    /// <summary>Whether this token may be read on a cluster of system identifier <paramref name="clusterIdentifier"/>
    /// (0: not known yet): it names no cluster, or that one.</summary>
    internal bool IsOf(ulong clusterIdentifier) => SystemIdentifier == 0 || clusterIdentifier == 0 || SystemIdentifier == clusterIdentifier;
}
