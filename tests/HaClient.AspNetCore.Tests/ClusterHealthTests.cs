using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Xunit;

namespace HaClient.AspNetCore.Tests;

/// <summary>/health for a Redis Cluster component, against the lab's cluster (eng/lab.sh cluster, 17001-17006).</summary>
[Collection("aspnet-lab")]
[Trait("Category", "Lab")]
public sealed class ClusterHealthTests
{
    private static Dictionary<string, string?> Settings()
    {
        var s = LabTests.LabSettings("haclient-aspnet-cluster-health", redis: false);
        for (var i = 0; i < 3; i++)
        {
            s[$"HighAvailability:Redis:cluster:Endpoints:{i}"] = $"127.0.0.1:{17001 + i}";
        }

        s["HighAvailability:Redis:cluster:Cluster"] = "true";
        return s;
    }

    private static async Task<JsonElement?> ClusterAsync(TestApp app)
    {
        using var doc = await LabTests.HealthAsync(app);
        foreach (var c in doc.RootElement.GetProperty("components").EnumerateArray())
        {
            if (c.GetProperty("name").GetString() == "cluster")
            {
                return c.Clone();
            }
        }

        return null;
    }

    [ChromiumFact]
    public async Task The_topology_page_shows_every_shard()
    {
        await Lab.RunAsync("cluster up");
        var page = Path.Combine(Lab.RepoRoot, "samples", "HaClient.Sample", "wwwroot", "topology.html");
        await using var app = await TestApp.StartAsync(Settings(), configure: a => a.MapGet("/topology.html", () => Microsoft.AspNetCore.Http.Results.File(page, "text/html")));
        Assert.True(await Lab.EventuallyAsync(() => ClusterStatusIsAsync(app, "Healthy"), TimeSpan.FromSeconds(20)), $"never healthy: {await ClusterAsync(app)}");
        var dom = await Chromium.DumpDomAsync(new Uri(app.BaseAddress, "/topology.html"));
        foreach (var slots in new[] { "0-5460", "5461-10922", "10923-16383" })
        {
            Assert.Matches($"<tr data-shard=\"{slots}\" data-primary=\"127\\.0\\.0\\.1:170\\d\\d\">", dom);
        }
    }

    private static async Task<bool> ClusterStatusIsAsync(TestApp app, string status) => (await ClusterAsync(app))?.GetProperty("status").GetString() == status;

    [Fact]
    public async Task Health_shows_every_shard_and_a_shard_without_primary_makes_it_unhealthy()
    {
        await Lab.RunAsync("cluster up");
        await using var app = await TestApp.StartAsync(Settings());
        Assert.True(await Lab.EventuallyAsync(() => ClusterStatusIsAsync(app, "Healthy"), TimeSpan.FromSeconds(20)), $"never healthy: {await ClusterAsync(app)}");
        var c = (await ClusterAsync(app))!.Value;
        var shards = c.GetProperty("shards").EnumerateArray().ToArray();
        Assert.Equal(3, shards.Length);
        foreach (var s in shards)
        {
            Assert.NotNull(s.GetProperty("primary").GetString());
            Assert.Single(s.GetProperty("replicas").EnumerateArray());
            Assert.Matches("^[0-9]+-[0-9]+$", s.GetProperty("slots").GetString()!);
        }

        Assert.Equal(6, c.GetProperty("hosts").GetArrayLength()); // discovered from three seeds
        foreach (var h in c.GetProperty("hosts").EnumerateArray())
        {
            Assert.True(h.TryGetProperty("probeAgeMs", out _));
            Assert.Equal("closed", h.GetProperty("breaker").GetString());
        }

        using var drill = await Lab.DrillLockAsync(TimeSpan.FromMinutes(8));
        try
        {
            await Lab.RunAsync("cluster crash-master 3");
            Assert.True(await Lab.EventuallyAsync(() => ClusterStatusIsAsync(app, "Unhealthy"), TimeSpan.FromSeconds(10)), $"not unhealthy while shard 3 has no primary: {await ClusterAsync(app)}");
            Assert.True(await Lab.EventuallyAsync(() => ClusterStatusIsAsync(app, "Degraded"), TimeSpan.FromSeconds(20)), $"not degraded after the failover: {await ClusterAsync(app)}");
        }
        finally
        {
            await Lab.RunAsync("cluster restore");
        }

        Assert.True(await Lab.EventuallyAsync(() => ClusterStatusIsAsync(app, "Healthy"), TimeSpan.FromSeconds(20)), $"never healthy again: {await ClusterAsync(app)}");
    }
}
