using HaClient.Postgres;
using HaClient.Redis;
using HaClient.Redis.Caching;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using HaClient.AspNetCore.Health;
using OpenTelemetry;

namespace HaClient.AspNetCore;

/// <summary>Adds PostgreSQL clusters, Redis deployments and the session store to the application, in code. Returned by
/// <see cref="HighAvailabilityServiceCollectionExtensions.AddHighAvailability(IServiceCollection, Action{HighAvailabilityBuilder})"/>.</summary>
public sealed class HighAvailabilityBuilder
{
    private readonly HighAvailabilityRegistry _registry;

    internal HighAvailabilityBuilder(IServiceCollection services, HighAvailabilityRegistry registry)
    {
        Services = services;
        _registry = registry;
    }

    /// <summary>The application's services.</summary>
    public IServiceCollection Services { get; }

    /// <summary>Leaves out HaClient's health checks (Aspire's switch; <see cref="HighAvailabilityOptions.DisableHealthChecks"/>
    /// in configuration). Set it inside the <c>AddHighAvailability</c> call: the checks are registered when it returns.</summary>
    public bool DisableHealthChecks { get; set; }

    /// <summary>Leaves out HaClient's activity source in OpenTelemetry tracing (<see cref="HighAvailabilityOptions.DisableTracing"/>).</summary>
    public bool DisableTracing { get; set; }

    /// <summary>Leaves out HaClient's meter in OpenTelemetry metrics (<see cref="HighAvailabilityOptions.DisableMetrics"/>).</summary>
    public bool DisableMetrics { get; set; }

    /// <summary>Adds (or further configures) the PostgreSQL cluster <paramref name="name"/>: a keyed
    /// <see cref="PostgresCluster"/> singleton, also unkeyed when it is the only one or is named <c>default</c>.</summary>
    public HighAvailabilityBuilder AddPostgres(string name, Action<PostgresClusterOptions> configure)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(configure);
        Services.Configure<HighAvailabilityOptions>(o =>
        {
            if (!o.Postgres.TryGetValue(name, out var cluster) || cluster is null)
            {
                o.Postgres[name] = cluster = new PostgresClusterOptions();
            }

            configure(cluster);
        });
        RegisterPostgres(name);
        return this;
    }

    /// <summary>Adds (or further configures) the Redis deployment <paramref name="name"/>: a keyed
    /// <see cref="RedisDeployment"/> singleton, also unkeyed when it is the only one or is named <c>default</c>.</summary>
    public HighAvailabilityBuilder AddRedis(string name, Action<RedisOptions> configure)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(configure);
        Services.Configure<HighAvailabilityOptions>(o =>
        {
            if (!o.Redis.TryGetValue(name, out var deployment) || deployment is null)
            {
                o.Redis[name] = deployment = new RedisOptions();
            }

            configure(deployment);
        });
        RegisterRedis(name);
        return this;
    }

    /// <summary>Stores ASP.NET Core sessions (any <see cref="IDistributedCache"/> use) in the Redis deployment
    /// <paramref name="redisName"/> through <see cref="HaRedisCache"/>, which survives failovers.</summary>
    public HighAvailabilityBuilder AddSessionStore(string redisName, Action<HighAvailabilitySessionOptions>? configure = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(redisName);
        Services.Configure<HighAvailabilityOptions>(o =>
        {
            o.Session.Redis = redisName;
            configure?.Invoke(o.Session);
        });
        RegisterSessionStore();
        return this;
    }

    /// <summary>Registers the health checks and the OpenTelemetry instrumentation the switches leave in, once per
    /// service collection.</summary>
    internal void RegisterIntegrations()
    {
        if (_registry.IntegrationsRegistered)
        {
            return;
        }

        _registry.IntegrationsRegistered = true;
        if (!DisableHealthChecks)
        {
            Services.AddHealthChecks()
                .AddCheck<HighAvailabilityLivenessCheck>("haclient-live", tags: ["live"])
                .AddCheck<HighAvailabilityReadinessCheck>("haclient-ready", tags: ["ready"]);
        }

        if (!DisableMetrics || !DisableTracing)
        {
            var telemetry = Services.AddOpenTelemetry();
            if (!DisableMetrics)
            {
                telemetry.WithMetrics(static m => m.AddHighAvailabilityInstrumentation());
            }

            if (!DisableTracing)
            {
                telemetry.WithTracing(static t => t.AddHighAvailabilityInstrumentation());
            }
        }
    }

    internal void RegisterPostgres(string name)
    {
        if (_registry.PostgresNames.Contains(name, StringComparer.OrdinalIgnoreCase))
        {
            return;
        }

        _registry.PostgresNames.Add(name);
        Services.AddKeyedSingleton(name, static (sp, key) =>
        {
            var name = (string)key!;
            var options = sp.GetRequiredService<IOptions<HighAvailabilityOptions>>().Value;
            return PostgresCluster.Create(options.Postgres[name], sp.GetService<ILoggerFactory>(), name, sp.GetService<TimeProvider>());
        });
        Services.TryAddSingleton(static sp => sp.GetRequiredService<HighAvailabilityRegistry>().ResolveDefaultPostgres(sp));
    }

    internal void RegisterRedis(string name)
    {
        if (_registry.RedisNames.Contains(name, StringComparer.OrdinalIgnoreCase))
        {
            return;
        }

        _registry.RedisNames.Add(name);
        Services.AddKeyedSingleton(name, static (sp, key) =>
        {
            var name = (string)key!;
            var options = sp.GetRequiredService<IOptions<HighAvailabilityOptions>>().Value;
            return RedisDeployment.Create(options.Redis[name], sp.GetService<ILoggerFactory>(), name, sp.GetService<TimeProvider>());
        });
        Services.TryAddSingleton(static sp => sp.GetRequiredService<HighAvailabilityRegistry>().ResolveDefaultRedis(sp));
    }

    internal void RegisterSessionStore()
    {
        if (_registry.SessionStoreRegistered)
        {
            return;
        }

        _registry.SessionStoreRegistered = true;
        Services.TryAddSingleton(static sp =>
        {
            var options = sp.GetRequiredService<IOptions<HighAvailabilityOptions>>().Value;
            var session = options.Session;
            var deployment = sp.GetRequiredKeyedService<RedisDeployment>(session.Redis!);
            return new HaRedisCache(deployment, new HaRedisCacheOptions
            {
                KeyPrefix = session.KeyPrefix,
                WaitReplicas = session.WaitReplicas,
                WaitTimeout = session.WaitTimeout,
            }, sp.GetService<TimeProvider>());
        });
        Services.Replace(ServiceDescriptor.Singleton<IDistributedCache>(static sp => sp.GetRequiredService<HaRedisCache>()));
    }
}
