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
        var zones = ZoneLayout.Resolve(options.Zones, options.LocalZone, options.ZonePolicy, hosts, csb?.Port ?? 5432, string.Empty, errors);
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
    private static List<HostEndpoint> ResolveHosts(PostgresClusterOptions options, NpgsqlConnectionStringBuilder? csb, List<string> errors)
    {
        var hosts = new List<HostEndpoint>();
        var defaultPort = csb?.Port ?? 5432;
        if (options.Hosts is { Count: > 0 })
        {
            for (var i = 0; i < options.Hosts.Count; i++)
            {
                AddHost(options.Hosts[i], defaultPort, $"Hosts[{i}]", hosts, errors);
            }
        }
        else if (csb is not null && !string.IsNullOrWhiteSpace(csb.Host))
        {
            var parts = csb.Host.Split(',');
            for (var i = 0; i < parts.Length; i++)
            {
                AddHost(parts[i], defaultPort, $"ConnectionString:Host[{i}]", hosts, errors);
            }
        }
        else if (csb is not null)
        {
            errors.Add("Hosts: the cluster needs at least one host (set Hosts, or Host in ConnectionString).");
        }

        if (hosts.Count != hosts.Distinct().Count())
        {
            errors.Add("Hosts: lists the same host:port twice.");
        }

        return hosts;
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

    private static void AddHost(string? text, int defaultPort, string setting, List<HostEndpoint> hosts, List<string> errors)
    {
        if (HostEndpoint.TryParse(text, defaultPort, out var error) is { } endpoint)
        {
            hosts.Add(endpoint);
        }
        else
        {
            errors.Add($"{setting}: {error}; expected host:port.");
        }
    }
}

/// <summary>The validated host list and the connection string every host's pool starts from.</summary>
internal sealed record ResolvedPostgresSettings(IReadOnlyList<HostEndpoint> Hosts, NpgsqlConnectionStringBuilder Template, int MaxConnectionsPerHost, ZoneLayout Zones)
{
    /// <summary>Whether the user's connection string sets <paramref name="keyword"/>.</summary>
    public bool IsSet(string keyword) => PostgresClusterOptionsValidator.IsSet(Template, keyword);
}
