using HaClient.AspNetCore;
using HaClient.AspNetCore.Health;
using HaClient.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers HaClient in an ASP.NET Core (or any generic-host) application.</summary>
public static class HighAvailabilityServiceCollectionExtensions
{
    /// <summary>
    /// Binds the <c>HighAvailability</c> section of <paramref name="configuration"/>: each entry under
    /// <c>Postgres</c> becomes a keyed <see cref="HaClient.Postgres.PostgresCluster"/> and each under <c>Redis</c> a keyed
    /// <see cref="HaClient.Redis.RedisDeployment"/> (the only one, or the one named <c>default</c>, is also unkeyed);
    /// <c>Session:Redis</c> makes that deployment the session store. Everything is validated when the host starts, with
    /// errors that name the configuration path; unknown keys are errors. Clusters are created at start-up and never
    /// fail because a backend is down.
    /// </summary>
    /// <param name="services">The application's services.</param>
    /// <param name="configuration">The configuration root (or any configuration holding <paramref name="sectionName"/>).</param>
    /// <param name="sectionName">The section to bind. Default <c>HighAvailability</c>.</param>
    public static HighAvailabilityBuilder AddHighAvailability(this IServiceCollection services, IConfiguration configuration, string sectionName = HighAvailabilityOptions.SectionName)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentException.ThrowIfNullOrWhiteSpace(sectionName);
        var section = configuration.GetSection(sectionName);
        var builder = AddCore(services, section.Path);
        builder.DisableHealthChecks |= IsSet(section, nameof(HighAvailabilityOptions.DisableHealthChecks));
        builder.DisableTracing |= IsSet(section, nameof(HighAvailabilityOptions.DisableTracing));
        builder.DisableMetrics |= IsSet(section, nameof(HighAvailabilityOptions.DisableMetrics));
        services.AddSingleton<IConfigureOptions<HighAvailabilityOptions>>(new HighAvailabilityConfigureOptions(section));
        foreach (var child in section.GetSection("Postgres").GetChildren())
        {
            builder.RegisterPostgres(child.Key);
        }

        foreach (var child in section.GetSection("Redis").GetChildren())
        {
            builder.RegisterRedis(child.Key);
        }

        if (!string.IsNullOrEmpty(section["Session:Redis"]))
        {
            builder.RegisterSessionStore();
        }

        builder.RegisterIntegrations();
        return builder;
    }

    /// <summary>Registers HaClient in code: <c>AddHighAvailability(ha =&gt; ha.AddPostgres("main", o =&gt; ...).AddRedis("cache", o =&gt; ...))</c>.
    /// Validated at start-up like the configuration overload.</summary>
    public static HighAvailabilityBuilder AddHighAvailability(this IServiceCollection services, Action<HighAvailabilityBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        var builder = AddCore(services, HighAvailabilityOptions.SectionName);
        configure(builder);
        builder.RegisterIntegrations();
        return builder;
    }

    /// <summary>A switch is on when the section sets it to <c>true</c>; a malformed value is reported by start-up
    /// validation, with its path.</summary>
    private static bool IsSet(IConfigurationSection section, string key) => bool.TryParse(section[key], out var on) && on;

    private static HighAvailabilityBuilder AddCore(IServiceCollection services, string sectionPath)
    {
        var registry = services.FirstOrDefault(d => d.ServiceType == typeof(HighAvailabilityRegistry))?.ImplementationInstance as HighAvailabilityRegistry;
        if (registry is not null)
        {
            return new HighAvailabilityBuilder(services, registry);
        }

        registry = new HighAvailabilityRegistry(sectionPath);
        services.AddSingleton(registry);
        services.AddOptions<HighAvailabilityOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<HighAvailabilityOptions>, HighAvailabilityOptionsValidator>());
        services.AddOptions<HostOptions>().Configure<IOptions<HighAvailabilityOptions>>(static (host, ha) =>
        {
            try
            {
                host.ShutdownTimeout = ha.Value.ShutdownTimeout;
            }
            catch (OptionsValidationException)
            {
                // Reported with every other error when the host starts.
            }
        });
        services.AddHostedService<ClusterActivation>();
        services.AddDataProtection(); // for ReadYourWrites:ProtectTokens (idempotent; keys are made on first use)
        services.AddSingleton<HighAvailabilityHealth>();
        services.TryAddScoped<IReadYourWrites, RequestConsistency>();
        return new HighAvailabilityBuilder(services, registry);
    }
}
