using HaClient.Configuration;
using Microsoft.Extensions.Options;

namespace HaClient.Redis;

/// <summary>Validates <see cref="RedisOptions"/>. Every error names the setting (<c>Sentinels[1]</c>,
/// <c>Resilience:OperationTimeout</c>) and never quotes the password.</summary>
public sealed class RedisOptionsValidator : IValidateOptions<RedisOptions>
{
    /// <summary>The default Sentinel port.</summary>
    public const int DefaultSentinelPort = 26379;

    /// <summary>The default Redis port.</summary>
    public const int DefaultRedisPort = 6379;

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, RedisOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        Resolve(options, errors);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    internal static ResolvedRedisSettings? Resolve(RedisOptions options, List<string> errors)
    {
        SettingsValidation.Annotate(options, string.Empty, errors);
        if (options.Resilience is { } resilience)
        {
            SettingsValidation.Annotate(resilience, "Resilience:", errors);
        }

        var sentinels = Parse(options.Sentinels, "Sentinels", DefaultSentinelPort, errors);
        var endpoints = Parse(options.Endpoints, "Endpoints", DefaultRedisPort, errors);
        var hasSentinels = options.Sentinels is { Count: > 0 };
        var hasEndpoints = options.Endpoints is { Count: > 0 };

        if (options.Cluster && !hasEndpoints)
        {
            errors.Add("Endpoints: Cluster is set but no seed node is listed; list at least one Redis Cluster node as host:port.");
        }
        else if (!hasSentinels && !hasEndpoints)
        {
            errors.Add("Sentinels: set Sentinels (with ServiceName) or Endpoints; neither is set.");
        }
        else if (hasSentinels && hasEndpoints)
        {
            errors.Add("Endpoints: set either Sentinels (with ServiceName) or Endpoints, not both.");
        }

        if (hasSentinels)
        {
            if (string.IsNullOrWhiteSpace(options.ServiceName))
            {
                errors.Add("ServiceName: is required with Sentinels (the name in 'sentinel monitor <name> ...').");
            }
            else if (options.ServiceName.AsSpan().IndexOfAny(" \t\r\n") >= 0)
            {
                errors.Add($"ServiceName: '{options.ServiceName}' must not contain white space.");
            }

            if (options.Cluster)
            {
                errors.Add("Cluster: Redis Cluster does not use Sentinels; list the seed nodes in Endpoints.");
            }
        }

        if (options.FailoverProbeInterval > options.ProbeInterval)
        {
            errors.Add("FailoverProbeInterval: must not be longer than ProbeInterval.");
        }

        if (options.Resilience is { } r && options.WaitTimeout >= r.OperationTimeout)
        {
            errors.Add("WaitTimeout: must be shorter than Resilience:OperationTimeout (the WAIT runs inside the write's budget).");
        }

        if (options.Password is { Length: > 0 } pw && pw.AsSpan().IndexOfAny("\r\n") >= 0)
        {
            errors.Add("Password: must not contain line breaks.");
        }

        ValidateTls(options.Tls, errors);
        if (options.Cluster && (options.Zones is { Count: > 0 } || options.LocalZone is not null))
        {
            errors.Add("Zones: zones apply to Sentinel mode (replica reads), not to Redis Cluster.");
        }

        var zones = HaClient.Routing.ZoneLayout.Resolve(options.Zones, options.LocalZone, options.ZonePolicy, null, DefaultRedisPort, string.Empty, errors);
        if (errors.Count > 0 || zones is null)
        {
            return null;
        }

        return new ResolvedRedisSettings(sentinels, endpoints, zones);
    }

    private static void ValidateTls(RedisTlsOptions? tls, List<string> errors)
    {
        if (tls is null)
        {
            errors.Add("Tls: must not be null.");
            return;
        }

        if (tls.ClientKeyPath is not null && tls.ClientCertificatePath is null)
        {
            errors.Add("Tls:ClientKeyPath: is set without Tls:ClientCertificatePath.");
        }

        // The paths are named by setting only: a file name may say more than it should.
        foreach (var (setting, path) in new[] { ("CaCertificatePath", tls.CaCertificatePath), ("ClientCertificatePath", tls.ClientCertificatePath), ("ClientKeyPath", tls.ClientKeyPath) })
        {
            if (path is not null && !File.Exists(path))
            {
                errors.Add($"Tls:{setting}: no such file.");
            }
        }
    }

    private static List<HostEndpoint> Parse(IList<string>? list, string setting, int defaultPort, List<string> errors)
    {
        var result = new List<HostEndpoint>();
        if (list is null)
        {
            return result;
        }

        for (var i = 0; i < list.Count; i++)
        {
            if (HostEndpoint.TryParse(list[i], defaultPort, out var error) is { } e)
            {
                if (result.Contains(e))
                {
                    errors.Add($"{setting}[{i}]: '{e}' is listed twice.");
                }

                result.Add(e);
            }
            else
            {
                errors.Add($"{setting}[{i}]: {error}; expected host:port.");
            }
        }

        return result;
    }
}

/// <summary>The validated, parsed addresses.</summary>
internal sealed record ResolvedRedisSettings(IReadOnlyList<HostEndpoint> Sentinels, IReadOnlyList<HostEndpoint> Endpoints, HaClient.Routing.ZoneLayout Zones);
