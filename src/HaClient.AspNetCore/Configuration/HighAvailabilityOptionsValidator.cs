using HaClient.Postgres;
using HaClient.Redis;
using Microsoft.Extensions.Options;

namespace HaClient.AspNetCore;

/// <summary>Validates <see cref="HighAvailabilityOptions"/> at start-up: the configuration's shape (unknown keys,
/// malformed values) and every cluster's and deployment's settings, each error prefixed with its full configuration
/// path (<c>HighAvailability:Postgres:main:Hosts[1]: ...</c>). Never quotes a secret.</summary>
internal sealed class HighAvailabilityOptionsValidator : IValidateOptions<HighAvailabilityOptions>
{
    private static readonly PostgresClusterOptionsValidator PostgresValidator = new();
    private static readonly RedisOptionsValidator RedisValidator = new();
    private readonly HighAvailabilityRegistry _registry;

    public HighAvailabilityOptionsValidator(HighAvailabilityRegistry registry) => _registry = registry;

    public ValidateOptionsResult Validate(string? name, HighAvailabilityOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var root = _registry.SectionPath;
        var errors = new List<string>(options.ConfigurationErrors);
        if (errors.Count > 0)
        {
            // The values were not bound; checking them would only repeat defaults.
            return ValidateOptionsResult.Fail(errors);
        }

        ValidateComponents(options, root, errors);
        ValidateIntegration(options, root, errors);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>Each cluster and deployment by its own validator, prefixed with its path, and the registered names.</summary>
    private void ValidateComponents(HighAvailabilityOptions options, string root, List<string> errors)
    {
        foreach (var (key, cluster) in options.Postgres)
        {
            if (cluster is null)
            {
                errors.Add($"{root}:Postgres:{key}: is empty.");
                continue;
            }

            AddPrefixed(PostgresValidator.Validate(key, cluster), $"{root}:Postgres:{key}:", errors);
        }

        foreach (var (key, deployment) in options.Redis)
        {
            if (deployment is null)
            {
                errors.Add($"{root}:Redis:{key}: is empty.");
                continue;
            }

            AddPrefixed(RedisValidator.Validate(key, deployment), $"{root}:Redis:{key}:", errors);
        }

        foreach (var n in _registry.PostgresNames.Where(n => !options.Postgres.ContainsKey(n)))
        {
            errors.Add($"{root}:Postgres:{n}: is registered but has no settings.");
        }

        foreach (var n in _registry.RedisNames.Where(n => !options.Redis.ContainsKey(n)))
        {
            errors.Add($"{root}:Redis:{n}: is registered but has no settings.");
        }
    }

    /// <summary>The ASP.NET Core integration's own settings: session store, health, read-your-writes, shutdown.</summary>
    private static void ValidateIntegration(HighAvailabilityOptions options, string root, List<string> errors)
    {
        var session = options.Session;
        if (!string.IsNullOrEmpty(session.Redis) && !options.Redis.ContainsKey(session.Redis))
        {
            errors.Add($"{root}:Session:Redis: names '{session.Redis}', which is not a deployment under {root}:Redis.");
        }

        if (session.WaitReplicas is < 0 or > 100)
        {
            errors.Add($"{root}:Session:WaitReplicas: must be between 0 and 100.");
        }

        if (session.WaitTimeout is { } wt && (wt < TimeSpan.Zero || wt > TimeSpan.FromMinutes(1)))
        {
            errors.Add($"{root}:Session:WaitTimeout: must be between 0 and 1 minute.");
        }

        var health = options.Health;
        if (health.MaxProbeAge <= TimeSpan.Zero || health.MaxProbeAge > TimeSpan.FromHours(1))
        {
            errors.Add($"{root}:Health:MaxProbeAge: must be between 1 ms and 1 hour.");
        }

        if (health.MaxReplicaLagSeconds is < 0)
        {
            errors.Add($"{root}:Health:MaxReplicaLagSeconds: must not be negative.");
        }

        var ryw = options.ReadYourWrites;
        if (!IsToken(ryw.HeaderName))
        {
            errors.Add($"{root}:ReadYourWrites:HeaderName: must be an HTTP header name (letters, digits, '-', '_') or empty.");
        }

        if (!IsToken(ryw.CookieName))
        {
            errors.Add($"{root}:ReadYourWrites:CookieName: must be a cookie name (letters, digits, '-', '_') or empty.");
        }

        if (ryw.CookieMaxAge <= TimeSpan.Zero)
        {
            errors.Add($"{root}:ReadYourWrites:CookieMaxAge: must be positive.");
        }

        if (options.ShutdownTimeout < TimeSpan.Zero || options.ShutdownTimeout > TimeSpan.FromHours(1))
        {
            errors.Add($"{root}:ShutdownTimeout: must be between 0 and 1 hour.");
        }

        if (options.RetryAfter < TimeSpan.Zero || options.RetryAfter > TimeSpan.FromHours(1))
        {
            errors.Add($"{root}:RetryAfter: must be between 0 and 1 hour.");
        }
    }

    private static void AddPrefixed(ValidateOptionsResult result, string prefix, List<string> errors)
    {
        if (result.Failed)
        {
            foreach (var failure in result.Failures ?? [])
            {
                errors.Add(prefix + failure);
            }
        }
    }

    private static bool IsToken(string? name)
    {
        if (name is null)
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            {
                return false;
            }
        }

        return true;
    }
}
