using System.Diagnostics;
using System.Net;
using HaClient.Postgres;
using Xunit;
using Xunit.Abstractions;

namespace HaClient.AspNetCore.Tests;

/// <summary>A forged read-your-writes cookie against the plain lab: its first read goes to the primary (correct: no
/// replica can prove a token that far), the middleware replaces the cookie with one capped to the primary's position,
/// and reads given the replaced cookie go to replicas again.</summary>
[Collection("aspnet-lab")]
[Trait("Category", "Lab")]
public sealed class PostgresTokenLabTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_forged_cookie_is_replaced_by_a_capped_one_and_reads_go_to_replicas_again()
    {
        using var drill = await Lab.DrillLockAsync(TimeSpan.FromMinutes(8));
        await using var app = await TestApp.StartAsync(LabTests.LabSettings("haclient-aspnet-forged", redis: false), configure: LabTests.MapItems);
        var cluster = (PostgresCluster)app.App.Services.GetService(typeof(PostgresCluster))!;
        Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(cluster.Topology.Primary is not null), TimeSpan.FromSeconds(20)), "no primary");
        var write = await app.Client.PostAsync("/items?name=forged", null);
        Assert.Equal(HttpStatusCode.OK, write.StatusCode);
        var id = await write.Content.ReadAsStringAsync();
        var primaryPort = cluster.Topology.Primary!.Endpoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

        async Task<HttpResponseMessage> ReadAsync(string cookie)
        {
            using var m = new HttpRequestMessage(HttpMethod.Get, $"/items/{id}");
            m.Headers.Add("Cookie", cookie);
            var r = await app.Client.SendAsync(m);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            return r;
        }

        const string Forged = "haclient-ct=FFFFFFFF%2FFFFFFFFF";
        var first = await ReadAsync(Forged);
        Assert.Equal(primaryPort, first.Headers.GetValues("X-Served-By").Single());

        // Replaced within a few requests (each that carries it asks for a fresh sample of the primary; the cap needs one
        // that began after the request did).
        string? replaced = first.Headers.TryGetValues("Set-Cookie", out var set) ? set.Single().Split(';')[0] : null;
        var requests = 1;
        var clock = Stopwatch.StartNew();
        while (replaced is null && requests < 400 && clock.Elapsed < TimeSpan.FromSeconds(20))
        {
            requests++;
            var r = await ReadAsync(Forged);
            replaced = r.Headers.TryGetValues("Set-Cookie", out set) ? set.Single().Split(';')[0] : null;
        }

        output.WriteLine($"replaced after {requests} request(s): {replaced}");
        Assert.NotNull(replaced);
        Assert.StartsWith("haclient-ct=", replaced, StringComparison.Ordinal);
        var capped = ConsistencyToken.Parse(Uri.UnescapeDataString(replaced["haclient-ct=".Length..]));
        Assert.True(capped.Lsn < ulong.MaxValue, capped.ToString());
        Assert.NotEqual(0UL, capped.SystemIdentifier);

        // Given the replaced cookie, reads leave the primary once a replica has replayed to the capped position.
        Assert.True(await Lab.EventuallyAsync(async () => (await ReadAsync(replaced)).Headers.GetValues("X-Served-By").Single() != primaryPort, TimeSpan.FromSeconds(10)),
            "reads with the replaced cookie never went to a replica");
    }
}
