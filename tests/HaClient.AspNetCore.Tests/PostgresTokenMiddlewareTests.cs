using System.Net;
using HaClient.Postgres;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Xunit;

namespace HaClient.AspNetCore.Tests;

/// <summary>The middleware keeps one Postgres token per cluster: the default cluster's in the single header and cookie
/// (as with one cluster), every other's in the <c>-Postgres</c> header and a cookie of its own; malformed input is
/// ignored (no server needed: the clusters' hosts are closed ports, so no token is capped or dropped).</summary>
public sealed class PostgresTokenMiddlewareTests
{
    private const string Main = "7301234567890123456:0/5000";
    private const string Reports = "7309999999999999999:1/20";

    private static Dictionary<string, string?> Settings(bool protect)
    {
        var ports = TestApp.ClosedPorts(2);
        return new()
        {
            ["HighAvailability:Postgres:default:ConnectionString"] = $"Host=127.0.0.1:{ports[0]};Username=u;Password=p;Database=d",
            ["HighAvailability:Postgres:reports:ConnectionString"] = $"Host=127.0.0.1:{ports[1]};Username=u;Password=p;Database=d",
            ["HighAvailability:ReadYourWrites:ProtectTokens"] = protect ? "true" : "false",
        };
    }

    private static Task<TestApp> StartAsync(bool protect = false) => TestApp.StartAsync(Settings(protect), configure: a =>
    {
        a.MapGet("/p/{component}", (string component, IReadYourWrites rw) => Text(rw.GetPostgresToken(component)));
        a.MapGet("/p", (IReadYourWrites rw) => Text(rw.Token));
        a.MapPost("/p/{component}", (string component, string token, IReadYourWrites rw) =>
        {
            rw.ObservePostgres(component, ConsistencyToken.Parse(token));
            return "ok";
        });
    });

    private static string Text(ConsistencyToken t) => t.IsEmpty ? "" : t.ToString();

    private static HttpRequestMessage Get(string path, string? single = null, string? perComponent = null, string? cookie = null)
    {
        var m = new HttpRequestMessage(HttpMethod.Get, path);
        if (single is not null)
        {
            m.Headers.Add("X-HaClient-Consistency", single);
        }

        if (perComponent is not null)
        {
            m.Headers.Add("X-HaClient-Consistency-Postgres", perComponent);
        }

        if (cookie is not null)
        {
            m.Headers.Add("Cookie", cookie);
        }

        return m;
    }

    private static async Task<string> BodyAsync(TestApp app, HttpRequestMessage m) => await (await app.Client.SendAsync(m)).Content.ReadAsStringAsync();

    [Fact]
    public async Task Each_cluster_keeps_its_own_token_and_the_default_one_travels_as_before()
    {
        await using var app = await StartAsync();
        Assert.Equal(Main, await BodyAsync(app, Get("/p/default", single: Main)));
        Assert.Equal(Main, await BodyAsync(app, Get("/p", single: Main)));
        Assert.Equal("", await BodyAsync(app, Get("/p/reports", single: Main)));
        Assert.Equal(Reports, await BodyAsync(app, Get("/p/reports", Main, $"reports={Reports}")));
        Assert.Equal(Reports, await BodyAsync(app, Get("/p/reports", cookie: $"haclient-ct-p-reports={Uri.EscapeDataString(Reports)}")));

        // The older identifier-less form still reads (and, with no identifier known for the cluster, stays as it is).
        Assert.Equal("16/B374D848", await BodyAsync(app, Get("/p", cookie: "haclient-ct=16%2FB374D848")));

        // The response carries each token back where it came from.
        var r = await app.Client.SendAsync(Get("/p", Main, $"reports={Reports}"));
        Assert.Equal(Main, r.Headers.GetValues("X-HaClient-Consistency").Single());
        Assert.Equal($"reports={Reports}", r.Headers.GetValues("X-HaClient-Consistency-Postgres").Single());
    }

    [Fact]
    public async Task A_write_sets_its_clusters_cookie_only()
    {
        await using var app = await StartAsync();
        var r = await app.Client.PostAsync($"/p/reports?token={Uri.EscapeDataString(Reports)}", null);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var cookie = Assert.Single(r.Headers.GetValues("Set-Cookie"));
        Assert.StartsWith($"haclient-ct-p-reports={Uri.EscapeDataString(Reports)}", cookie, StringComparison.Ordinal);
        Assert.False(r.Headers.Contains("X-HaClient-Consistency"));

        var d = await app.Client.PostAsync($"/p/default?token={Uri.EscapeDataString(Main)}", null);
        Assert.StartsWith($"haclient-ct={Uri.EscapeDataString(Main)}", Assert.Single(d.Headers.GetValues("Set-Cookie")), StringComparison.Ordinal);
        Assert.Equal(Main, d.Headers.GetValues("X-HaClient-Consistency").Single());
        Assert.False(d.Headers.Contains("X-HaClient-Consistency-Postgres"));

        // Carried back unchanged: no cookie is set again.
        var again = await app.Client.SendAsync(Get("/p/reports", cookie: cookie.Split(';')[0]));
        Assert.False(again.Headers.Contains("Set-Cookie"));
    }

    [Theory]
    [InlineData("reports=0:1/2")]
    [InlineData("reports=FFFFFFFFF/1")]
    [InlineData("reports=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:1")]
    [InlineData("rep orts=1:0/1")]
    [InlineData("reports")]
    public async Task Malformed_entries_are_ignored(string header)
    {
        await using var app = await StartAsync();
        var r = await app.Client.SendAsync(Get("/p/reports", perComponent: header));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("", await r.Content.ReadAsStringAsync());
        Assert.False(r.Headers.Contains("X-HaClient-Consistency-Postgres"));
    }

    [Fact]
    public async Task With_protection_only_sealed_tokens_are_read_and_every_token_sent_is_sealed()
    {
        await using var app = await StartAsync(protect: true);

        // A plain token (forged or not) is ignored, in the header, the per-cluster header and the cookie alike.
        Assert.Equal("", await BodyAsync(app, Get("/p", single: Main, cookie: "haclient-ct=FFFFFFFF%2FFFFFFFFF")));
        Assert.Equal("", await BodyAsync(app, Get("/p/reports", perComponent: $"reports={Reports}")));

        var w = await app.Client.PostAsync($"/p/default?token={Uri.EscapeDataString(Main)}", null);
        var sealedToken = w.Headers.GetValues("X-HaClient-Consistency").Single();
        Assert.False(ConsistencyToken.TryParse(sealedToken, out _), sealedToken);
        Assert.DoesNotContain("5000", sealedToken, StringComparison.Ordinal);
        var cookie = Assert.Single(w.Headers.GetValues("Set-Cookie")).Split(';')[0];

        // Sent back, header or cookie, it opens to the token.
        Assert.Equal(Main, await BodyAsync(app, Get("/p", single: sealedToken)));
        Assert.Equal(Main, await BodyAsync(app, Get("/p", cookie: cookie)));

        // Altered by one character, it is ignored.
        var altered = sealedToken[..^2] + (sealedToken[^2] == 'A' ? 'B' : 'A') + sealedToken[^1];
        Assert.Equal("", await BodyAsync(app, Get("/p", single: altered)));
    }
}
