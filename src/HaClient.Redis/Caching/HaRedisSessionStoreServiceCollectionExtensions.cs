using HaClient.Redis;
using HaClient.Redis.Caching;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the HaClient Redis session store.</summary>
public static class HaRedisSessionStoreServiceCollectionExtensions
{
    /// <summary>
    /// Registers a singleton <see cref="RedisDeployment"/> (from validated <see cref="RedisOptions"/>, validated at start)
    /// and <see cref="HaRedisCache"/> as the <see cref="IDistributedCache"/> (which ASP.NET Core session uses).
    /// </summary>
    public static IServiceCollection AddHaRedisSessionStore(this IServiceCollection services, Action<RedisOptions> configureRedis, Action<HaRedisCacheOptions>? configureCache = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configureRedis);
        services.AddOptions<RedisOptions>().Configure(configureRedis).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RedisOptions>, RedisOptionsValidator>());
        var cache = services.AddOptions<HaRedisCacheOptions>().ValidateDataAnnotations();
        if (configureCache is not null)
        {
            cache.Configure(configureCache);
        }

        services.TryAddSingleton(sp => RedisDeployment.Create(sp.GetRequiredService<IOptions<RedisOptions>>().Value, sp.GetService<ILoggerFactory>()));
        services.TryAddSingleton(sp => new HaRedisCache(sp.GetRequiredService<RedisDeployment>(), sp.GetRequiredService<IOptions<HaRedisCacheOptions>>().Value, sp.GetService<TimeProvider>()));
        services.Replace(ServiceDescriptor.Singleton<IDistributedCache>(sp => sp.GetRequiredService<HaRedisCache>()));
        return services;
    }
}
