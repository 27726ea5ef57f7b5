using HaClient.Configuration;
using HaClient.Routing;
using Microsoft.Extensions.Options;
using Npgsql;

namespace HaClient.Postgres;

/// <summary>Validates <see cref="PostgresClusterOptions"/>. Every error names the setting (<c>Hosts[1]</c>,
/// <c>ReplicaLag:MaxLagTime</c>) and never quotes a password or the connection string.</summary>
public sealed class PostgresClusterOptionsValidator : IValidateOptions<PostgresClusterOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, PostgresClusterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        Resolve(options, errors);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>Validates and resolves the host list and the per-host connection string.</summary>
    internal static ResolvedPostgresSettings? Resolve(PostgresClusterOptions options, List<string> errors)
    {
        SettingsValidation.Annotate(options, string.Empty, errors);
        if (options.ReplicaLag is { } lag)
        {
            SettingsValidation.Annotate(lag, "ReplicaLag:", errors);
        }

        if (options.Resilience is { } resilience)
        {
            SettingsValidation.Annotate(resilience, "Resilience:", errors);
        }

        var csb = ParseConnectionString(options.ConnectionString, errors);
        var hosts = ResolveHosts(options, csb, errors);
        for (var i = 0; i < options.PatroniUrls.Count; i++)
        {
            if (!Uri.TryCreate(options.PatroniUrls[i], UriKind.Absolute, out var u) || (u.Scheme != Uri.UriSchemeHttp && u.Scheme != Uri.UriSchemeHttps))
            {
                // Not quoted: an address may carry credentials (http://user:password@host:8008).
                errors.Add($"PatroniUrls[{i}]: is not an absolute http(s) address (http://host:8008).");
            }
        }

        if (!Enum.IsDefined(options.TransactionRetry))
        {
            errors.Add($"TransactionRetry: {(int)options.TransactionRetry} is not one of None, WhenNotCommitted.");
        }

        if (options.FailoverProbeInterval > options.ProbeInterval)
        {
            errors.Add("FailoverProbeInterval: must not be longer than ProbeInterval.");
        }

        var maxConnections = ResolveMaxConnections(options, csb, errors);
        var zones = ZoneLayout.Resolve(options.Zones, options.LocalZone, options.ZonePolicy, hosts.Select(h => h.Server).ToArray(), csb?.Port ?? 5432, string.Empty, errors);
        return errors.Count > 0 || csb is null || zones is null ? null : new ResolvedPostgresSettings(hosts, csb, maxConnections, zones);
    }

    private static NpgsqlConnectionStringBuilder? ParseConnectionString(string? connectionString, List<string> errors)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            errors.Add("ConnectionString: is required (credentials and database; Host may list the hosts).");
            return null;
        }

        try
        {
            return new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidCastException)
        {
            // Npgsql's message names the keyword only, never the value.
            errors.Add($"ConnectionString: is malformed: {e.Message}");
            return null;
        }
    }

    /// <summary>The hosts from <see cref="PostgresClusterOptions.Hosts"/>, else from the connection string's Host.</summary>
    private static List<PostgresHostAddress> ResolveHosts(PostgresClusterOptions options, NpgsqlConnectionStringBuilder? csb, List<string> errors)
    {
        var hosts = new List<PostgresHostAddress>();
        var defaultPort = csb?.Port ?? 5432;
        if (options.Hosts is { Count: > 0 })
        {
            for (var i = 0; i < options.Hosts.Count; i++)
            {
                AddHost(options.Hosts[i], defaultPort, $"Hosts[{i}]", allowVia: true, hosts, errors);
            }
        }
        else if (csb is not null && !string.IsNullOrWhiteSpace(csb.Host))
        {
            var parts = csb.Host.Split(',');
            for (var i = 0; i < parts.Length; i++)
            {
                AddHost(parts[i], defaultPort, $"ConnectionString:Host[{i}]", allowVia: false, hosts, errors);
            }
        }
        else if (csb is not null)
        {
            errors.Add("Hosts: the cluster needs at least one host (set Hosts, or Host in ConnectionString).");
        }

        CheckDistinct(hosts, errors);
        return hosts;
    }

    /// <summary>No server listed twice, no pooler shared by two hosts, and no pooler that is another host's server: each
    /// host's requests must reach that host and no other.</summary>
    private static void CheckDistinct(List<PostgresHostAddress> hosts, List<string> errors)
    {
        if (hosts.Select(h => h.Server).Distinct().Count() != hosts.Count)
        {
            errors.Add("Hosts: lists the same host:port twice.");
        }

        for (var i = 0; i < hosts.Count; i++)
        {
            if (hosts[i].Via is not { } via)
            {
                continue;
            }

            for (var j = 0; j < hosts.Count; j++)
            {
                if (j != i && (hosts[j].Traffic == via || hosts[j].Server == via))
                {
                    errors.Add($"Hosts[{i}]: its pooler {via} is also Hosts[{j}]'s {(hosts[j].Server == via ? "server" : "pooler")}; each host needs a pooler of its own, in front of that host only.");
                    break;
                }
            }
        }
    }

    /// <summary>The per-host cap: the setting, or the connection string's Maximum Pool Size (both is an error), else 40.</summary>
    private static int ResolveMaxConnections(PostgresClusterOptions options, NpgsqlConnectionStringBuilder? csb, List<string> errors)
    {
        if (csb is null || !IsSet(csb, "Maximum Pool Size"))
        {
            return options.MaxConnectionsPerHost ?? PostgresClusterOptions.DefaultMaxConnectionsPerHost;
        }

        if (options.MaxConnectionsPerHost is { } cap && cap != csb.MaxPoolSize)
        {
            errors.Add($"MaxConnectionsPerHost: is {cap} but ConnectionString sets Maximum Pool Size={csb.MaxPoolSize}; set only one.");
        }

        return csb.MaxPoolSize;
    }

    /// <summary>Whether the connection string itself sets <paramref name="keyword"/> (its canonical name).
    /// <see cref="NpgsqlConnectionStringBuilder.ContainsKey"/> answers true for every keyword Npgsql knows, set or not.</summary>
    internal static bool IsSet(NpgsqlConnectionStringBuilder csb, string keyword) => csb.Keys.Contains(keyword, StringComparer.OrdinalIgnoreCase);

    private static void AddHost(string? text, int defaultPort, string setting, bool allowVia, List<PostgresHostAddress> hosts, List<string> errors)
    {
        if (!allowVia)
        {
            if (HostEndpoint.TryParse(text, defaultPort, out var error) is { } endpoint)
            {
                hosts.Add(new PostgresHostAddress(endpoint, null));
            }
            else
            {
                errors.Add($"{setting}: {error}; expected host:port (a pooler is named in Hosts, as 'server:port via pooler:port').");
            }

            return;
        }

        if (PostgresHostAddress.TryParse(text, defaultPort, out var message) is { } address)
        {
            hosts.Add(address);
        }
        else
        {
            errors.Add($"{setting}: {message}; expected host:port, or 'server:port via pooler:port' when requests go through a pooler.");
        }
    }
}

/// <summary>The validated host list (each host's server and, when it has one, its pooler), the connection string
/// every host's pool starts from, and the zones of the hosts.</summary>
internal sealed record ResolvedPostgresSettings(IReadOnlyList<PostgresHostAddress> Hosts, NpgsqlConnectionStringBuilder Template, int MaxConnectionsPerHost, ZoneLayout Zones)
{
    /// <summary>Whether the user's connection string sets <paramref name="keyword"/>.</summary>
    public bool IsSet(string keyword) => PostgresClusterOptionsValidator.IsSet(Template, keyword);
}
