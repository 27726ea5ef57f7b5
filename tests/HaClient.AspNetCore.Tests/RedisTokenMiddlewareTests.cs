using System.Net;
using HaClient.Redis;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Xunit;

namespace HaClient.AspNetCore.Tests;

/// <summary>The read-your-writes middleware carries Redis tokens, one per component, in the <c>-Redis</c> header and
/// one cookie per component; malformed or foreign-shaped input is ignored (no server needed: the endpoints only use
/// <see cref="IReadYourWrites"/>).</summary>
public sealed class RedisTokenMiddlewareTests
{
    private const string A = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    private const string B = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    private static Dictionary<string, string?> Settings() => new()
    {
        ["HighAvailability:Postgres:main:ConnectionString"] = $"Host=127.0.0.1:{TestApp.ClosedPorts(1)[0]};Username=u;Password=p;Database=d",
    };

    private static Task<TestApp> StartAsync() => TestApp.StartAsync(Settings(), configure: a =>
    {
        a.MapGet("/r/{component}", (string component, IReadYourWrites rw) => rw.GetRedisToken(component).ToString());
        a.MapPost("/r/{component}", (string component, string token, IReadYourWrites rw) =>
        {
            rw.ObserveRedis(component, RedisConsistencyToken.Parse(token));
            return "ok";
        });
    });

    private static HttpRequestMessage Get(string path, string? header = null, string? cookie = null)
    {
        var m = new HttpRequestMessage(HttpMethod.Get, path);
        if (header is not null)
        {
            m.Headers.Add("X-HaClient-Consistency-Redis", header);
        }

        if (cookie is not null)
        {
            m.Headers.Add("Cookie", cookie);
        }

        return m;
    }

    [Fact]
    public async Task Each_component_keeps_its_own_token_from_header_or_cookie()
    {
        await using var app = await StartAsync();
        var header = $"cache={A}:100, sessions={B}:7";
        Assert.Equal($"{A}:100", await (await app.Client.SendAsync(Get("/r/cache", header))).Content.ReadAsStringAsync());
        Assert.Equal($"{B}:7", await (await app.Client.SendAsync(Get("/r/sessions", header))).Content.ReadAsStringAsync());
        Assert.Equal("", await (await app.Client.SendAsync(Get("/r/other", header))).Content.ReadAsStringAsync());

        // The cookie, and the later of header and cookie on one history.
        Assert.Equal($"{A}:50", await (await app.Client.SendAsync(Get("/r/cache", cookie: $"haclient-ct-r-cache={A}:50"))).Content.ReadAsStringAsync());
        Assert.Equal($"{A}:100", await (await app.Client.SendAsync(Get("/r/cache", $"cache={A}:100", $"haclient-ct-r-cache={A}:50"))).Content.ReadAsStringAsync());

        // The response carries every component's token back.
        var r = await app.Client.SendAsync(Get("/r/cache", header));
        Assert.Equal($"cache={A}:100,sessions={B}:7", r.Headers.GetValues("X-HaClient-Consistency-Redis").Single());
    }

    [Fact]
    public async Task A_write_sets_its_components_cookie_only()
    {
        await using var app = await StartAsync();
        var r = await app.Client.PostAsync($"/r/cache?token={A}:42", null);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var cookie = Assert.Single(r.Headers.GetValues("Set-Cookie"));
        Assert.StartsWith($"haclient-ct-r-cache={A}%3A42", cookie, StringComparison.Ordinal); // the colon URL-encoded, as ASP.NET Core writes cookie values
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Equal($"cache={A}:42", r.Headers.GetValues("X-HaClient-Consistency-Redis").Single());

        // A request that only carries its tokens back does not set the cookie again.
        var again = await app.Client.SendAsync(Get("/r/cache", cookie: $"haclient-ct-r-cache={A}:42"));
        Assert.False(again.Headers.Contains("Set-Cookie"));
    }

    [Theory]
    [InlineData("cache=FFFFFFFF/FFFFFFFF")]
    [InlineData("cache=aaaa:1")]
    [InlineData("ca che=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:1")]
    [InlineData("=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:1")]
    [InlineData("cache")]
    public async Task Malformed_entries_are_ignored(string header)
    {
        await using var app = await StartAsync();
        var r = await app.Client.SendAsync(Get("/r/cache", header));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("", await r.Content.ReadAsStringAsync());
        Assert.False(r.Headers.Contains("X-HaClient-Consistency-Redis"));
    }

    [Fact]
    public async Task At_most_sixteen_components_are_read()
    {
        await using var app = await StartAsync();
        var header = string.Join(',', Enumerable.Range(0, 40).Select(i => $"c{i}={A}:{i}"));
        Assert.Equal($"{A}:15", await (await app.Client.SendAsync(Get("/r/c15", header))).Content.ReadAsStringAsync());
        Assert.Equal("", await (await app.Client.SendAsync(Get("/r/c16", header))).Content.ReadAsStringAsync());
    }
}
