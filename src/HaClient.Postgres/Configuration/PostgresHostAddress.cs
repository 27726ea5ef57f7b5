namespace HaClient.Postgres;

/// <summary>
/// One entry of <see cref="PostgresClusterOptions.Hosts"/>: the server the monitor watches and, when the entry names one
/// with <c>via</c>, the pooler (PgBouncer) that requests go through: <c>10.0.0.1:5432 via 10.0.0.1:6432</c>.
/// </summary>
/// <param name="Server">The address the monitor probes (role, timeline, lag): the server itself.</param>
/// <param name="Via">The pooler requests go to, or <see langword="null"/> when they go to <paramref name="Server"/>.</param>
internal readonly record struct PostgresHostAddress(HostEndpoint Server, HostEndpoint? Via)
{
    /// <summary>The word that separates the server from its pooler.</summary>
    public const string ViaKeyword = "via";

    /// <summary>Where requests go: the pooler when there is one, else the server.</summary>
    public HostEndpoint Traffic => Via ?? Server;

    /// <summary>Whether requests go through a pooler (the pooled settings apply to them).</summary>
    public bool IsPooled => Via is not null;

    /// <summary>Parses <c>host:port</c> or <c>host:port via pooler:port</c>; <paramref name="defaultPort"/> applies to a
    /// part with no port. On failure returns <see langword="null"/> and an error that says which part is wrong.</summary>
    public static PostgresHostAddress? TryParse(string? text, int defaultPort, out string? error)
    {
        var parts = (text ?? string.Empty).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var via = Array.FindIndex(parts, p => p.Equals(ViaKeyword, StringComparison.OrdinalIgnoreCase));
        if (via < 0)
        {
            return HostEndpoint.TryParse(text, defaultPort, out error) is { } server ? new PostgresHostAddress(server, null) : null;
        }

        if (via != 1 || parts.Length != 3)
        {
            error = "is not 'server:port via pooler:port' (one address on each side of 'via')";
            return null;
        }

        if (HostEndpoint.TryParse(parts[0], defaultPort, out error) is not { } watched)
        {
            error = $"the server (before 'via') {error}";
            return null;
        }

        if (HostEndpoint.TryParse(parts[2], defaultPort, out error) is not { } pooler)
        {
            error = $"the pooler (after 'via') {error}";
            return null;
        }

        return new PostgresHostAddress(watched, pooler);
    }

    /// <inheritdoc />
    public override string ToString() => Via is { } v ? $"{Server} {ViaKeyword} {v}" : Server.ToString();
}
