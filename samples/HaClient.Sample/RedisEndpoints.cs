using HaClient.Redis;
using StackExchange.Redis;

namespace HaClient.Sample;

/// <summary>A cached read on Redis, and a visit counter in the ASP.NET Core session (stored in Redis through
/// HaClient's session store).</summary>
internal static class RedisEndpoints
{
    private const string GreetingKey = "haclient-sample:greeting";

    public static void MapCachedGreeting(this IEndpointRouteBuilder app)
        => app.MapGet("/cached/greeting", async ([FromKeyedServices("cache")] RedisDeployment cache, CancellationToken ct) =>
        {
            var cached = await cache.ExecuteReadAsync((db, _) => db.StringGetAsync(GreetingKey), RedisReadPreference.ReplicaPreferred, ct);
            if (cached.HasValue)
            {
                return Results.Ok(new { value = (string?)cached, cached = true });
            }

            var value = $"Hello from {Environment.MachineName} at {DateTimeOffset.UtcNow:O}";
            await cache.ExecuteWriteAsync((db, _) => db.StringSetAsync(GreetingKey, value, TimeSpan.FromSeconds(10)), cancellationToken: ct);
            return Results.Ok(new { value, cached = false });
        });

    public static void MapVisits(this IEndpointRouteBuilder app)
        => app.MapGet("/visits", async (HttpContext http, CancellationToken ct) =>
        {
            // Load asynchronously: the HaClient session store does not block a thread during a failover.
            await http.Session.LoadAsync(ct);
            var visits = (http.Session.GetInt32("visits") ?? 0) + 1;
            http.Session.SetInt32("visits", visits);
            return Results.Ok(new { visits });
        });
}
