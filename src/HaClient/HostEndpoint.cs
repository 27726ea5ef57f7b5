using System.Globalization;

namespace HaClient;

/// <summary>A host and port, parsed from <c>host:port</c>, <c>host</c> or <c>[ipv6]:port</c>.</summary>
/// <param name="Host">The host name or address.</param>
/// <param name="Port">The TCP port.</param>
public readonly record struct HostEndpoint(string Host, int Port)
{
    /// <summary>Parses <paramref name="text"/>; <paramref name="defaultPort"/> applies when no port is given.</summary>
    /// <returns><see langword="null"/> and an error message when malformed.</returns>
    public static HostEndpoint? TryParse(string? text, int defaultPort, out string? error)
    {
        error = null;
        var s = text?.Trim();
        if (string.IsNullOrEmpty(s))
        {
            error = "is empty";
            return null;
        }

        if (s.AsSpan().IndexOfAny("=;@") >= 0)
        {
            // Never quoted back: a whole connection string (Host=...;Password=...) or user:password@host pasted where a
            // host belongs carries its secrets with it.
            error = "looks like a connection string or carries user info (it has '=', ';' or '@'), not host:port; its text is not repeated here because it may hold a password";
            return null;
        }

        if (!TrySplit(s, out var host, out var port, out error))
        {
            return null;
        }

        if (host.Length == 0 || host.AsSpan().IndexOfAny(" ,;/=@\t") >= 0)
        {
            error = $"'{s}' has no valid host name";
            return null;
        }

        var p = defaultPort;
        if (port is not null && (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out p) || p is < 1 or > 65535))
        {
            error = $"'{s}' has port '{port}', which is not a number from 1 to 65535";
            return null;
        }

        return new HostEndpoint(host, p);
    }

    /// <summary>Splits <c>host:port</c>, <c>host</c> or <c>[ipv6]:port</c>; the error quotes the text, which holds no
    /// secret by then ('=', ';' and '@' were refused first).</summary>
    private static bool TrySplit(string s, out string host, out string? port, out string? error)
    {
        error = null;
        port = null;
        if (s[0] == '[')
        {
            var close = s.IndexOf(']', StringComparison.Ordinal);
            host = close < 0 ? string.Empty : s[1..close];
            if (close < 0)
            {
                error = $"'{s}' has '[' without ']'";
                return false;
            }

            var rest = s[(close + 1)..];
            if (rest.Length > 0 && rest[0] != ':')
            {
                error = $"'{s}' is not host:port";
                return false;
            }

            port = rest.Length > 0 ? rest[1..] : null;
            return true;
        }

        var colon = s.LastIndexOf(':');
        if (colon >= 0 && s.IndexOf(':', StringComparison.Ordinal) != colon)
        {
            host = string.Empty;
            error = $"'{s}' is not host:port (write IPv6 addresses as [addr]:port)";
            return false;
        }

        host = colon >= 0 ? s[..colon] : s;
        port = colon >= 0 ? s[(colon + 1)..] : null;
        return true;
    }

    /// <inheritdoc />
    public override string ToString() => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";
}
