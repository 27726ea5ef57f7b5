using Npgsql;

namespace HaClient.Drill.Soak;

/// <summary>A user's multi-host PostgreSQL connection string, split per host for the observer. <see cref="ToString"/>
/// is the redacted form (hosts, database, user; never the password).</summary>
public sealed class PgTarget
{
    /// <summary>The application_name the workload's sessions carry (counted server-side in pg_stat_activity).</summary>
    public const string ApplicationName = "haclient-drill";

    private PgTarget(string connectionString, IReadOnlyList<Endpoint> hosts, string redacted)
    {
        ConnectionString = connectionString;
        Hosts = hosts;
        _redacted = redacted;
    }

    private readonly string _redacted;

    /// <summary>The user's connection string with the workload's application name.</summary>
    public string ConnectionString { get; }

    public IReadOnlyList<Endpoint> Hosts { get; }

    public static PgTarget Parse(string connectionString)
    {
        NpgsqlConnectionStringBuilder b;
        try
        {
            b = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException e)
        {
            // Npgsql's message names the bad keyword, never its value.
            throw new ArgumentException($"--pg: not a valid connection string ({e.Message})");
        }

        if (string.IsNullOrWhiteSpace(b.Host)) throw new ArgumentException("--pg: the connection string has no Host");
        var hosts = new List<Endpoint>();
        foreach (var h in b.Host.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var i = h.LastIndexOf(':');
            hosts.Add(i > 0 && !h.EndsWith(']') && int.TryParse(h[(i + 1)..], out var port) ? new Endpoint(h[..i], port) : new Endpoint(h, b.Port));
        }

        b.ApplicationName = ApplicationName;
        var redacted = $"Host={string.Join(',', hosts)};Database={b.Database};Username={b.Username}";
        return new PgTarget(b.ConnectionString, hosts, redacted);
    }

    /// <summary>A connection string to one host only, for the observer and the checks (no pooling, short timeouts).</summary>
    public string ForHost(int index, string applicationName)
    {
        var b = new NpgsqlConnectionStringBuilder(ConnectionString)
        {
            Host = Hosts[index].Host,
            Port = Hosts[index].Port,
            Pooling = false,
            Timeout = 2,
            CommandTimeout = 2,
            CancellationTimeout = -1,
            ApplicationName = applicationName,
            TargetSessionAttributes = null,
        };
        return b.ConnectionString;
    }

    public override string ToString() => _redacted;
}
