using System.Globalization;
using System.Net;
using HaClient.Redis;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Xunit;

namespace HaClient.AspNetCore.Tests;

/// <summary>Read-your-writes on Redis through the middleware, against the Sentinel lab: each write's token comes back in
/// the component's cookie, and the next request's read, given that cookie, never misses the write.</summary>
[Collection("aspnet-lab")]
[Trait("Category", "Lab")]
public sealed class RedisTokenLabTests
{
    [Fact]
    public async Task A_request_carrying_the_cookie_reads_its_own_write()
    {
        var settings = LabTests.LabSettings("haclient-aspnet-redis-ryw");
        settings["HighAvailability:Redis:cache:ProbeInterval"] = "00:00:00.100";
        await using var app = await TestApp.StartAsync(settings, configure: a =>
        {
            a.MapPost("/incr/{key}", async (string key, RedisDeployment redis, IReadYourWrites rw, CancellationToken ct) =>
                (await redis.ExecuteKeyWriteAsync(rw, key, (db, _) => db.StringIncrementAsync(key), ct)).ToString(CultureInfo.InvariantCulture));
            a.MapGet("/get/{key}", async (string key, RedisDeployment redis, IReadYourWrites rw, CancellationToken ct) =>
                await redis.ExecuteKeyReadAsync(rw, key, async (db, _) => $"{(long)await db.StringGetAsync(key)} {db.Multiplexer.GetEndPoints()[0]}", ct));
        });
        var redis = (RedisDeployment)app.App.Services.GetService(typeof(RedisDeployment))!;
        Assert.True(await redis.WaitForPrimaryAsync(TimeSpan.FromSeconds(20)));
        var key = $"t:aspnet-ryw:{Guid.NewGuid():N}";
        int stale = 0, byReplica = 0;
        string? cookie = null;
        for (var i = 0; i < 150; i++)
        {
            var w = await app.Client.PostAsync($"/incr/{key}", null);
            Assert.Equal(HttpStatusCode.OK, w.StatusCode);
            var written = long.Parse(await w.Content.ReadAsStringAsync(), CultureInfo.InvariantCulture);
            var set = Assert.Single(w.Headers.GetValues("Set-Cookie"), c => c.StartsWith($"haclient-ct-r-{redis.Name}=", StringComparison.Ordinal));
            cookie = set.Split(';')[0];

            // The next request, as a browser would send it: only the cookie.
            var m = new HttpRequestMessage(HttpMethod.Get, $"/get/{key}");
            m.Headers.Add("Cookie", cookie);
            var r = await app.Client.SendAsync(m);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            var parts = (await r.Content.ReadAsStringAsync()).Split(' ');
            stale += long.Parse(parts[0], CultureInfo.InvariantCulture) < written ? 1 : 0;
            byReplica += parts[1] != redis.CurrentPrimary ? 1 : 0;
            await Task.Delay(i % 10 == 0 ? 300 : 5); // now and then old enough for a replica to prove it
        }

        Assert.Equal(0, stale);

        // A replica serves the cookie's reads once it has proven the write. The pauses above usually give it the chance;
        // on a busy CI machine they did not once (39b8c3b), so the last cookie is read until a replica serves it.
        if (byReplica == 0)
        {
            await Lab.EventuallyAsync(async () =>
            {
                var m = new HttpRequestMessage(HttpMethod.Get, $"/get/{key}");
                m.Headers.Add("Cookie", cookie!);
                var parts = (await (await app.Client.SendAsync(m)).Content.ReadAsStringAsync()).Split(' ');
                Assert.Equal(150, long.Parse(parts[0], CultureInfo.InvariantCulture));
                byReplica += parts[1] != redis.CurrentPrimary ? 1 : 0;
                return byReplica > 0;
            }, TimeSpan.FromSeconds(20));
        }

        Assert.True(byReplica > 0, "no read with the cookie was ever served by a replica");
    }
}
