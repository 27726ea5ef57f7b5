using System.Text.Json;
using HaClient.Postgres;
using HaClient.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Xunit;

namespace HaClient.AspNetCore.Tests;

/// <summary>The zone settings bound from the <c>HighAvailability</c> section: zone name → hosts (a host:port cannot be a
/// configuration key), validated at start-up with the full path, and each host's zone in the health output.</summary>
public sealed class ZoneConfigurationTests
{
    private static Dictionary<string, string?> Settings(int[] ports) => new()
    {
        ["HighAvailability:Postgres:main:ConnectionString"] = "Username=u;Password=pw;Database=d",
        ["HighAvailability:Postgres:main:Hosts:0"] = $"127.0.0.1:{ports[0]}",
        ["HighAvailability:Postgres:main:Hosts:1"] = $"127.0.0.1:{ports[1]}",
        ["HighAvailability:Postgres:main:Zones:a:0"] = $"127.0.0.1:{ports[0]}",
        ["HighAvailability:Postgres:main:Zones:b:0"] = $"127.0.0.1:{ports[1]}",
        ["HighAvailability:Postgres:main:LocalZone"] = "a",
    };

    [Fact]
    public async Task Zones_bind_from_configuration_and_each_hosts_zone_is_in_the_health_output()
    {
        var ports = TestApp.ClosedPorts(2);
        var s = Settings(ports);
        s["HighAvailability:Postgres:main:ZonePolicy"] = "LocalOnly";
        await using var app = await TestApp.StartAsync(s);
        var cluster = app.App.Services.GetRequiredService<PostgresCluster>();
        Assert.Equal("a", cluster.Options.LocalZone);
        Assert.Equal(ZonePolicy.LocalOnly, cluster.Options.ZonePolicy);
        Assert.Equal(["a", "b"], cluster.Topology.Hosts.Select(h => h.Zone));

        using var doc = JsonDocument.Parse(await (await app.Client.GetAsync("/health")).Content.ReadAsStringAsync());
        var hosts = doc.RootElement.GetProperty("components")[0].GetProperty("hosts");
        Assert.Equal(["a", "b"], hosts.EnumerateArray().Select(h => h.GetProperty("zone").GetString()));
        Assert.All(hosts.EnumerateArray(), h => Assert.True(h.TryGetProperty("responseMs", out _)));
    }

    [Fact]
    public async Task A_zone_host_that_is_not_a_cluster_host_and_a_bad_policy_are_named_by_their_full_path()
    {
        var ports = TestApp.ClosedPorts(2);
        var s = Settings(ports);
        s["HighAvailability:Postgres:main:Zones:b:1"] = "127.0.0.1:1";
        s["HighAvailability:Postgres:main:LocalZone"] = "c";
        var builder = TestApp.CreateBuilder(s);
        builder.Services.AddHighAvailability(builder.Configuration);
        await using (var app = builder.Build())
        {
            var e = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());
            Assert.Contains("HighAvailability:Postgres:main:Zones:b[1]: '127.0.0.1:1' is not one of the cluster's hosts", e.Message, StringComparison.Ordinal);
            Assert.Contains("HighAvailability:Postgres:main:LocalZone: 'c' is not one of the zones", e.Message, StringComparison.Ordinal);
        }

        s = Settings(ports);
        s["HighAvailability:Postgres:main:ZonePolicy"] = "Nearest";
        builder = TestApp.CreateBuilder(s);
        builder.Services.AddHighAvailability(builder.Configuration);
        await using (var app = builder.Build())
        {
            var e = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());
            Assert.Contains("HighAvailability:Postgres:main:ZonePolicy: is not a valid ZonePolicy (one of PreferLocal, LocalOnly)", e.Message, StringComparison.Ordinal);
        }
    }
}
