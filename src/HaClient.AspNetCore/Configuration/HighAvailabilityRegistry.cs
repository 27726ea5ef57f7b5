using HaClient.Postgres;
using HaClient.Redis;
using Microsoft.Extensions.DependencyInjection;

namespace HaClient.AspNetCore;

/// <summary>The names registered as keyed services (known when the services are registered), and which one is the
/// unkeyed default.</summary>
internal sealed class HighAvailabilityRegistry
{
    public HighAvailabilityRegistry(string sectionPath) => SectionPath = sectionPath;

    /// <summary>The configuration path errors are reported under (<c>HighAvailability</c>).</summary>
    public string SectionPath { get; set; }

    public List<string> PostgresNames { get; } = [];

    public List<string> RedisNames { get; } = [];

    public bool SessionStoreRegistered { get; set; }

    /// <summary>Whether the health checks and the OpenTelemetry registrations were added.</summary>
    public bool IntegrationsRegistered { get; set; }

    /// <summary>The default Postgres cluster's name for read-your-writes (never throws): the only one, else the one named
    /// <c>default</c>, else <c>default</c>.</summary>
    public string DefaultPostgresName
        => PostgresNames.Count == 1 ? PostgresNames[0]
        : PostgresNames.FirstOrDefault(n => string.Equals(n, "default", StringComparison.OrdinalIgnoreCase)) ?? "default";

    public PostgresCluster ResolveDefaultPostgres(IServiceProvider services)
        => services.GetRequiredKeyedService<PostgresCluster>(DefaultName(PostgresNames, "PostgreSQL cluster", "Postgres"));

    public RedisDeployment ResolveDefaultRedis(IServiceProvider services)
        => services.GetRequiredKeyedService<RedisDeployment>(DefaultName(RedisNames, "Redis deployment", "Redis"));

    private string DefaultName(List<string> names, string what, string key)
    {
        if (names.Count == 1)
        {
            return names[0];
        }

        foreach (var n in names)
        {
            if (string.Equals(n, "default", StringComparison.OrdinalIgnoreCase))
            {
                return n;
            }
        }

        throw new InvalidOperationException(names.Count == 0
            ? $"No {what} is configured under {SectionPath}:{key}."
            : $"{names.Count} {what}s are configured under {SectionPath}:{key} and none is named 'default': inject one with [FromKeyedServices(\"name\")].");
    }
}
