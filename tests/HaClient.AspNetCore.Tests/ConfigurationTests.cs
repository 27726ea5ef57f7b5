using HaClient.Postgres;
using HaClient.Redis;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Xunit;

namespace HaClient.AspNetCore.Tests;

/// <summary>Start-up validation of the <c>HighAvailability</c> section: every malformed setting is named by its full
/// path, and no error ever quotes a secret.</summary>
public sealed class ConfigurationTests
{
    private const string Secret = "Sup3r-s3cret-pw";

    private static Dictionary<string, string?> ValidPostgres(int port) => new()
    {
        ["HighAvailability:Postgres:main:ConnectionString"] = $"Username=u;Password={Secret};Database=d",
        ["HighAvailability:Postgres:main:Hosts:0"] = $"127.0.0.1:{port}",
        ["HighAvailability:Postgres:main:Hosts:1"] = $"127.0.0.1:{port + 1}",
    };

    private static async Task<string> StartFailureAsync(Dictionary<string, string?> settings)
    {
        var builder = TestApp.CreateBuilder(settings);
        builder.Services.AddHighAvailability(builder.Configuration);
        await using var app = builder.Build();
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());
        Assert.DoesNotContain(Secret, e.Message, StringComparison.Ordinal);
        return e.Message;
    }

    [Fact]
    public async Task Malformed_host_is_named_by_its_full_path()
    {
        var s = ValidPostgres(TestApp.ClosedPort());
        s["HighAvailability:Postgres:main:Hosts:1"] = "127.0.0.1:notaport";
        var message = await StartFailureAsync(s);
        Assert.Contains("HighAvailability:Postgres:main:Hosts[1]: ", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Malformed_pooler_is_named_by_its_full_path_and_part()
    {
        var s = ValidPostgres(TestApp.ClosedPort());
        s["HighAvailability:Postgres:main:Hosts:0"] = "127.0.0.1:15432 via 127.0.0.1:15452";
        s["HighAvailability:Postgres:main:Hosts:1"] = "127.0.0.1:15433 via 127.0.0.1:x";
        var message = await StartFailureAsync(s);
        Assert.Contains("HighAvailability:Postgres:main:Hosts[1]: the pooler (after 'via') '127.0.0.1:x' has port 'x'", message, StringComparison.Ordinal);
        Assert.DoesNotContain("Hosts[0]", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Hosts_behind_poolers_bind_from_configuration()
    {
        var s = ValidPostgres(TestApp.ClosedPort());
        s["HighAvailability:Postgres:main:Hosts:0"] = "127.0.0.1:1 via 127.0.0.1:2";
        s["HighAvailability:Postgres:main:Hosts:1"] = "127.0.0.1:3 via 127.0.0.1:4";
        var builder = TestApp.CreateBuilder(s);
        builder.Services.AddHighAvailability(builder.Configuration);
        await using var app = builder.Build();
        var cluster = app.Services.GetRequiredKeyedService<PostgresCluster>("main");
        Assert.Equal(["127.0.0.1:1 via 127.0.0.1:2", "127.0.0.1:3 via 127.0.0.1:4"], cluster.Options.Hosts);
        Assert.Equal([1, 3], cluster.Topology.Hosts.Select(h => h.Endpoint.Port));
    }

    [Fact]
    public async Task Unknown_key_is_rejected_with_its_path()
    {
        var s = ValidPostgres(TestApp.ClosedPort());
        s["HighAvailability:Postgres:main:ProbeIntervall"] = "00:00:01";
        s["HighAvailability:Helth:MaxProbeAge"] = "00:00:01";
        var message = await StartFailureAsync(s);
        Assert.Contains("HighAvailability:Postgres:main:ProbeIntervall: is not a known setting", message, StringComparison.Ordinal);
        Assert.Contains("HighAvailability:Helth: is not a known setting", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Malformed_timespan_is_named_and_its_value_not_quoted()
    {
        var s = ValidPostgres(TestApp.ClosedPort());
        s["HighAvailability:Postgres:main:ProbeInterval"] = "5s";
        s["HighAvailability:Postgres:main:Resilience:OperationTimeout"] = Secret; // a secret pasted in the wrong place
        var message = await StartFailureAsync(s);
        Assert.Contains("HighAvailability:Postgres:main:ProbeInterval: is not a valid time span", message, StringComparison.Ordinal);
        Assert.Contains("HighAvailability:Postgres:main:Resilience:OperationTimeout: is not a valid time span", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Semantic_errors_of_each_component_carry_the_full_path()
    {
        var s = ValidPostgres(TestApp.ClosedPort());
        s["HighAvailability:Postgres:main:ReplicaLag:MaxLagTime"] = "02:00:00";
        s["HighAvailability:Postgres:other:Hosts:0"] = "127.0.0.1:1";
        s["HighAvailability:Redis:cache:Sentinels:0"] = "127.0.0.1:16479";
        s["HighAvailability:Redis:cache:Password"] = Secret;
        s["HighAvailability:Session:Redis"] = "sessions";
        s["HighAvailability:ReadYourWrites:HeaderName"] = "Bad Header";
        var message = await StartFailureAsync(s);
        Assert.Contains("HighAvailability:Postgres:main:ReplicaLag:MaxLagTime: ", message, StringComparison.Ordinal);
        Assert.Contains("HighAvailability:Postgres:other:ConnectionString: is required", message, StringComparison.Ordinal);
        Assert.Contains("HighAvailability:Redis:cache:ServiceName: is required", message, StringComparison.Ordinal);
        Assert.Contains("HighAvailability:Session:Redis: names 'sessions'", message, StringComparison.Ordinal);
        Assert.Contains("HighAvailability:ReadYourWrites:HeaderName: ", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_malformed_token_protection_switch_is_named()
    {
        var s = ValidPostgres(TestApp.ClosedPort());
        s["HighAvailability:ReadYourWrites:ProtectTokens"] = "maybe";
        var message = await StartFailureAsync(s);
        Assert.Contains("HighAvailability:ReadYourWrites:ProtectTokens", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_value_where_a_section_belongs_is_named()
    {
        var s = ValidPostgres(TestApp.ClosedPort());
        s["HighAvailability:Postgres:main:Resilience"] = "fast";
        var message = await StartFailureAsync(s);
        Assert.Contains("HighAvailability:Postgres:main:Resilience: must be a section", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Code_first_registration_is_validated_at_start()
    {
        var builder = TestApp.CreateBuilder(new Dictionary<string, string?>());
        builder.Services.AddHighAvailability(ha => ha.AddPostgres("main", o =>
        {
            o.ConnectionString = $"Username=u;Password={Secret}";
            o.Hosts.Add("127.0.0.1:0");
        }));
        await using var app = builder.Build();
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());
        Assert.Contains("HighAvailability:Postgres:main:Hosts[0]: ", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Named_clusters_are_keyed_and_the_single_one_is_also_unkeyed()
    {
        var port = TestApp.ClosedPort();
        var s = ValidPostgres(port);
        s["HighAvailability:Redis:cache:Endpoints:0"] = $"127.0.0.1:{TestApp.ClosedPort()}";
        await using var app = await TestApp.StartAsync(s, configure: a =>
        {
            a.MapGet("/keyed", ([FromKeyedServices("main")] PostgresCluster keyed, PostgresCluster unkeyed, [FromKeyedServices("cache")] RedisDeployment redis)
                => Results.Text($"{keyed.Name}:{ReferenceEquals(keyed, unkeyed)}:{redis.Name}"));
        });
        Assert.Equal("main:True:cache", await app.Client.GetStringAsync("/keyed"));
    }

    [Fact]
    public async Task Code_first_clusters_are_keyed_and_two_without_a_default_have_no_unkeyed_one()
    {
        var builder = TestApp.CreateBuilder(new Dictionary<string, string?>());
        builder.Services.AddHighAvailability(ha => ha
            .AddPostgres("a", o => o.ConnectionString = $"Host=127.0.0.1:{TestApp.ClosedPort()};Username=u;Password={Secret}")
            .AddPostgres("b", o => o.ConnectionString = $"Host=127.0.0.1:{TestApp.ClosedPort()};Username=u;Password={Secret}"));
        await using var app = await TestApp.StartAsync(builder);
        var services = app.App.Services;
        Assert.Equal("a", services.GetRequiredKeyedService<PostgresCluster>("a").Name);
        Assert.Equal("b", services.GetRequiredKeyedService<PostgresCluster>("b").Name);
        var e = Assert.Throws<InvalidOperationException>(() => services.GetRequiredService<PostgresCluster>());
        Assert.Contains("none is named 'default'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Shutdown_timeout_is_configurable()
    {
        var s = ValidPostgres(TestApp.ClosedPort());
        s["HighAvailability:ShutdownTimeout"] = "00:00:07";
        await using var app = await TestApp.StartAsync(s);
        Assert.Equal(TimeSpan.FromSeconds(7), app.App.Services.GetRequiredService<IOptions<HostOptions>>().Value.ShutdownTimeout);
    }
}
