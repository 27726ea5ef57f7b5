using System.Diagnostics;
using System.Net;
using System.Text.Json;
using HaClient.Postgres;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Xunit;
using Xunit.Abstractions;

namespace HaClient.AspNetCore.Tests;

/// <summary>Brings the plain PostgreSQL lab and Redis up once (both may be started freely; faults take the drill lock).</summary>
public sealed class LabFixture : IAsyncLifetime
{
    public async Task InitializeAsync()
    {
        await Lab.RunAsync("pg up");
        await Lab.RunAsync("redis up");
    }

    public Task DisposeAsync() => Task.CompletedTask;
}

[CollectionDefinition("aspnet-lab")]
public sealed class AspNetLabCollection : ICollectionFixture<LabFixture>;

/// <summary>The ASP.NET Core integration against the plain PostgreSQL lab (primary 15432, replicas 15433/15434) and
/// Redis with Sentinels (16479-16481, master name <c>haclient</c>).</summary>
[Collection("aspnet-lab")]
[Trait("Category", "Lab")]
public sealed class LabTests
{
    public const string Password = "haclient-lab-pw";
    private static readonly TimeSpan LockWait = TimeSpan.FromMinutes(8);
    private readonly ITestOutputHelper _output;

    public LabTests(ITestOutputHelper output) => _output = output;

    public static Dictionary<string, string?> LabSettings(string applicationName, bool redis = true)
    {
        var s = new Dictionary<string, string?>
        {
            ["HighAvailability:Postgres:main:ConnectionString"] = $"Username=haclient;Password={Password};Database=haclient;Application Name={applicationName}",
            ["HighAvailability:Postgres:main:Hosts:0"] = "127.0.0.1:15432",
            ["HighAvailability:Postgres:main:Hosts:1"] = "127.0.0.1:15433",
            ["HighAvailability:Postgres:main:Hosts:2"] = "127.0.0.1:15434",
            ["HighAvailability:Postgres:main:ProbeInterval"] = "00:00:00.200",
            ["HighAvailability:Postgres:main:ReplicaLag:MaxLagTime"] = "00:01:00",
            ["HighAvailability:Postgres:main:Resilience:OperationTimeout"] = "00:00:05",
        };
        if (redis)
        {
            s["HighAvailability:Redis:cache:Sentinels:0"] = "127.0.0.1:16479";
            s["HighAvailability:Redis:cache:Sentinels:1"] = "127.0.0.1:16480";
            s["HighAvailability:Redis:cache:Sentinels:2"] = "127.0.0.1:16481";
            s["HighAvailability:Redis:cache:ServiceName"] = "haclient";
        }

        return s;
    }

    public static async Task<JsonDocument> HealthAsync(TestApp app)
    {
        var r = await app.Client.GetAsync("/health");
        return JsonDocument.Parse(await r.Content.ReadAsStringAsync());
    }

    public static async Task<bool> StatusIsAsync(TestApp app, string status, string? primary = null)
    {
        using var doc = await HealthAsync(app);
        if (doc.RootElement.GetProperty("status").GetString() != status)
        {
            return false;
        }

        return primary is null || doc.RootElement.GetProperty("components")[0].GetProperty("primary").GetString() == primary;
    }

    [Fact]
    public async Task Health_is_healthy_with_every_host_and_never_shows_a_password()
    {
        var s = LabSettings("haclient-aspnet-health");
        // A second cluster whose password is wrong: its probe errors must not echo the password either.
        s["HighAvailability:Postgres:badauth:ConnectionString"] = "Host=127.0.0.1:15432;Username=haclient;Password=wrong-s3cret-value;Database=haclient";
        using var drill = await Lab.DrillLockAsync(LockWait);
        await using var app = await TestApp.StartAsync(s, configure: a =>
            a.MapHealthChecks("/hc/ready", new HealthCheckOptions { Predicate = r => r.Tags.Contains("ready") }));

        Assert.True(await Lab.EventuallyAsync(async () =>
        {
            using var doc = await HealthAsync(app);
            var main = doc.RootElement.GetProperty("components").EnumerateArray().First(c => c.GetProperty("name").GetString() == "main");
            var redis = doc.RootElement.GetProperty("components").EnumerateArray().First(c => c.GetProperty("kind").GetString() == "redis");
            return main.GetProperty("status").GetString() == "Healthy" && redis.GetProperty("status").GetString() == "Healthy";
        }, TimeSpan.FromSeconds(20)), "main and cache never became healthy");

        var response = await app.Client.GetAsync("/health");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode); // badauth is unhealthy, so overall is
        var body = await response.Content.ReadAsStringAsync();
        _output.WriteLine(body);
        using (var doc = JsonDocument.Parse(body))
        {
            var components = doc.RootElement.GetProperty("components");
            var main = components.EnumerateArray().First(c => c.GetProperty("name").GetString() == "main");
            Assert.Equal("127.0.0.1:15432", main.GetProperty("primary").GetString());
            var roles = main.GetProperty("hosts").EnumerateArray().Select(h => h.GetProperty("role").GetString()).ToArray();
            Assert.Equal(new string?[] { "primary", "replica", "replica" }, roles);
            foreach (var h in main.GetProperty("hosts").EnumerateArray())
            {
                Assert.Equal("closed", h.GetProperty("breaker").GetString());
                Assert.InRange(h.GetProperty("probeAgeMs").GetInt64(), 0, 10_000);
                Assert.True(h.GetProperty("probeMs").GetDouble() >= 0);
                Assert.Equal(40, h.GetProperty("maxConnections").GetInt32()); // MaxConnectionsPerHost left out
                Assert.InRange(h.GetProperty("inFlight").GetInt32(), 0, 40);
            }

            var badauth = components.EnumerateArray().First(c => c.GetProperty("name").GetString() == "badauth");
            Assert.Equal("Unhealthy", badauth.GetProperty("status").GetString());
            Assert.Equal("Unhealthy", doc.RootElement.GetProperty("status").GetString());
            var redis = components.EnumerateArray().First(c => c.GetProperty("kind").GetString() == "redis");
            var master = redis.GetProperty("primary").GetString();
            Assert.NotNull(master); // which node is primary depends on earlier Redis drills
            Assert.Equal("primary", redis.GetProperty("hosts").EnumerateArray().Single(h => h.GetProperty("endpoint").GetString() == master).GetProperty("role").GetString());
            foreach (var h in redis.GetProperty("hosts").EnumerateArray().Where(h => h.GetProperty("role").GetString() != "unknown"))
            {
                // Redis health carries each node's probe age and probe time, as Postgres health does.
                Assert.InRange(h.GetProperty("probeAgeMs").GetInt64(), 0, 10_000);
                Assert.True(h.GetProperty("probeMs").GetDouble() >= 0);
            }
        }

        Assert.DoesNotContain(Password, body, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong-s3cret-value", body, StringComparison.Ordinal);
        foreach (var path in new[] { "/health/live", "/health/ready", "/hc/ready" })
        {
            Assert.DoesNotContain(Password, await (await app.Client.GetAsync(path)).Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Health_probes_open_no_database_connections()
    {
        var applicationName = "haclient-aspnet-probe-" + Environment.ProcessId;
        using var drill = await Lab.DrillLockAsync(LockWait);
        await using var app = await TestApp.StartAsync(LabSettings(applicationName, redis: false), configure: a =>
            a.MapHealthChecks("/hc", new HealthCheckOptions()));
        Assert.True(await Lab.EventuallyAsync(() => StatusIsAsync(app, "Healthy"), TimeSpan.FromSeconds(20)), "never healthy");

        var before = await CountBackendsAsync(applicationName);
        for (var i = 0; i < 50; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await app.Client.GetAsync("/health")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await app.Client.GetAsync("/health/ready")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await app.Client.GetAsync("/hc")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await app.Client.GetAsync("/health/live")).StatusCode);
        }

        var after = await CountBackendsAsync(applicationName);
        Assert.Equal(0, before);
        Assert.Equal(0, after);

        // The count would see the application's pool: one read through the cluster shows up under the same name.
        var cluster = (PostgresCluster)app.App.Services.GetService(typeof(PostgresCluster))!;
        await cluster.ExecuteReadAsync(async (c, t) =>
        {
            await using var cmd = new NpgsqlCommand("SELECT 1", c);
            return await cmd.ExecuteScalarAsync(t);
        });
        Assert.True(await CountBackendsAsync(applicationName) >= 1, "the pooled connection was not counted: the test could not see a probe's connection either");
    }

    /// <summary>Counts the backends of <paramref name="applicationName"/> on every node of the plain lab.</summary>
    private static async Task<int> CountBackendsAsync(string applicationName)
    {
        var total = 0;
        foreach (var port in new[] { 15432, 15433, 15434 })
        {
            await using var c = new NpgsqlConnection($"Host=127.0.0.1;Port={port};Username=haclient;Password={Password};Database=haclient;Pooling=false;Application Name=haclient-aspnet-counter");
            await c.OpenAsync();
            await using var cmd = new NpgsqlCommand("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", c);
            cmd.Parameters.AddWithValue(applicationName);
            total += (int)(long)(await cmd.ExecuteScalarAsync())!;
        }

        return total;
    }

    [Fact]
    public async Task Read_your_writes_token_makes_the_next_request_see_the_write()
    {
        using var drill = await Lab.DrillLockAsync(LockWait);
        await using var app = await TestApp.StartAsync(LabSettings("haclient-aspnet-ryw", redis: false), configure: MapItems);
        Assert.True(await Lab.EventuallyAsync(() => StatusIsAsync(app, "Healthy"), TimeSpan.FromSeconds(20)), "never healthy");
        var setup = await app.Client.PostAsync("/items?name=setup", null);
        Assert.Equal(HttpStatusCode.OK, setup.StatusCode);
        var setupId = await setup.Content.ReadAsStringAsync();

        // "Healthy" says every host is up, not that a replica is admitted for a bounded read: a replica that had not caught
        // up with the primary's position when this app's monitor first saw it (after an earlier test restarted the
        // primary, until its WAL receiver reconnects) is not known to be within the lag bound, and the router rightly sends
        // reads to the primary. Paused before it caught up, it would never be admitted. So wait for a replica to serve one.
        Assert.True(await Lab.EventuallyAsync(async () =>
        {
            var read = await app.Client.GetAsync($"/items/{setupId}");
            return read.StatusCode == HttpStatusCode.OK && read.Headers.GetValues("X-Served-By").Single() != "15432";
        }, TimeSpan.FromSeconds(20)), $"no replica served a read: {Describe(app)}");
        try
        {
            // Replicas stop replaying: only the primary has what is written from now on.
            await Lab.RunAsync("pg pause-replay n2");
            await Lab.RunAsync("pg pause-replay n3");

            var write = await app.Client.PostAsync("/items?name=ryw", null);
            Assert.Equal(HttpStatusCode.OK, write.StatusCode);
            var id = await write.Content.ReadAsStringAsync();
            var token = write.Headers.GetValues("X-HaClient-Consistency").Single();
            Assert.True(ConsistencyToken.TryParse(token, out _), token);
            var cookie = write.Headers.GetValues("Set-Cookie").Single();
            Assert.StartsWith($"haclient-ct={Uri.EscapeDataString(token)}", cookie, StringComparison.Ordinal);

            // Without the token the read goes to a (paused) replica, which has not seen the write.
            var stale = await app.Client.GetAsync($"/items/{id}");
            _output.WriteLine($"without the token: {stale.StatusCode} from port {stale.Headers.GetValues("X-Served-By").Single()}; {Describe(app)}");
            Assert.Equal(HttpStatusCode.NotFound, stale.StatusCode);

            // With the token (header), the next request reads the write; the answer carries the token on.
            using var withHeader = new HttpRequestMessage(HttpMethod.Get, $"/items/{id}");
            withHeader.Headers.Add("X-HaClient-Consistency", token);
            var fresh = await app.Client.SendAsync(withHeader);
            Assert.Equal(HttpStatusCode.OK, fresh.StatusCode);
            Assert.Equal("ryw", await fresh.Content.ReadAsStringAsync());
            Assert.Equal(token, fresh.Headers.GetValues("X-HaClient-Consistency").Single());
            Assert.False(fresh.Headers.Contains("Set-Cookie"), "the cookie was re-sent although the token did not advance");

            // With the token as the cookie.
            using var withCookie = new HttpRequestMessage(HttpMethod.Get, $"/items/{id}");
            withCookie.Headers.Add("Cookie", cookie.Split(';')[0]);
            Assert.Equal(HttpStatusCode.OK, (await app.Client.SendAsync(withCookie)).StatusCode);
        }
        finally
        {
            await Lab.RunAsync("pg up");
        }
    }

    /// <summary>What the monitor saw of each host, for a failure message.</summary>
    private static string Describe(TestApp app) => string.Join("; ", app.App.Services.GetRequiredService<PostgresCluster>().Topology.Hosts
        .Select(h => $"{h.Endpoint} {h.Role} tl {h.Timeline} lsn {h.WalLsn:X} lag {h.ReplayLagSeconds} breaker {h.Breaker}"));

    /// <summary>Items on the cluster: writes on the primary, reads with the request's token.</summary>
    internal static void MapItems(WebApplication app)
    {
        app.MapPost("/items", async (string name, PostgresCluster cluster, IReadYourWrites rw, CancellationToken ct) =>
        {
            var id = await cluster.ExecuteWriteAsync(rw, async (c, t) =>
            {
                await using (var create = new NpgsqlCommand("CREATE TABLE IF NOT EXISTS aspnet_items(id bigserial PRIMARY KEY, name text NOT NULL)", c))
                {
                    await create.ExecuteNonQueryAsync(t);
                }

                await using var cmd = new NpgsqlCommand("INSERT INTO aspnet_items(name) VALUES ($1) RETURNING id", c);
                cmd.Parameters.AddWithValue(name);
                return (long)(await cmd.ExecuteScalarAsync(t))!;
            }, ct);
            return Results.Text(id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        });
        app.MapGet("/items/{id:long}", async (long id, PostgresCluster cluster, IReadYourWrites rw, HttpContext http, CancellationToken ct) =>
        {
            var name = await cluster.ExecuteReadAsync(rw, async (c, t) =>
            {
                await using var cmd = new NpgsqlCommand("SELECT (SELECT name FROM aspnet_items WHERE id = $1), inet_server_port()", c);
                cmd.Parameters.AddWithValue(id);
                await using var reader = await cmd.ExecuteReaderAsync(t);
                await reader.ReadAsync(t);
                return (Name: reader.IsDBNull(0) ? null : reader.GetString(0), Port: reader.GetInt32(1));
            }, ct);
            http.Response.Headers["X-Served-By"] = name.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return name.Name is null ? Results.NotFound() : Results.Text(name.Name);
        });
    }

    [Fact]
    public async Task Session_counter_is_stored_in_redis_through_the_ha_session_store()
    {
        var s = LabSettings("haclient-aspnet-session");
        s["HighAvailability:Session:Redis"] = "cache";
        s["HighAvailability:Session:KeyPrefix"] = "haclient-aspnet-test:session:";
        await using var app = await TestApp.StartAsync(s, services: svc => svc.AddSession(), configure: a =>
        {
            a.UseSession();
            a.MapGet("/visits", async (HttpContext http) =>
            {
                await http.Session.LoadAsync(http.RequestAborted);
                var visits = (http.Session.GetInt32("visits") ?? 0) + 1;
                http.Session.SetInt32("visits", visits);
                return visits;
            });
        });
        Assert.IsType<HaClient.Redis.Caching.HaRedisCache>(app.App.Services.GetRequiredService<Microsoft.Extensions.Caching.Distributed.IDistributedCache>());
        Assert.True(await Lab.EventuallyAsync(() => StatusIsAsync(app, "Healthy"), TimeSpan.FromSeconds(20)), "never healthy");
        var first = await app.Client.GetAsync("/visits");
        Assert.Equal("1", await first.Content.ReadAsStringAsync());
        var cookie = first.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith(".AspNetCore.Session=", StringComparison.Ordinal)).Split(';')[0];
        using var second = new HttpRequestMessage(HttpMethod.Get, "/visits");
        second.Headers.Add("Cookie", cookie);
        Assert.Equal("2", await (await app.Client.SendAsync(second)).Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task App_starts_with_the_database_down_and_recovers_when_it_returns()
    {
        using var drill = await Lab.DrillLockAsync(LockWait);
        try
        {
            await Lab.RunAsync("pg down");
            await using var app = await TestApp.StartAsync(LabSettings("haclient-aspnet-startdown", redis: false), configure: MapItems);
            Assert.Equal(HttpStatusCode.OK, (await app.Client.GetAsync("/health/live")).StatusCode);
            Assert.True(await Lab.EventuallyAsync(() => StatusIsAsync(app, "Unhealthy"), TimeSpan.FromSeconds(15)), "not unhealthy with every host down");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await app.Client.GetAsync("/health/ready")).StatusCode);
            var write = await app.Client.PostAsync("/items?name=while-down", null);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, write.StatusCode);
            Assert.True(write.Headers.Contains("Retry-After"));

            await Lab.RunAsync("pg up");
            Assert.True(await Lab.EventuallyAsync(() => StatusIsAsync(app, "Healthy", "127.0.0.1:15432"), TimeSpan.FromSeconds(60)), "never healthy after the database returned");
            Assert.Equal(HttpStatusCode.OK, (await app.Client.PostAsync("/items?name=after-recovery", null)).StatusCode);
        }
        finally
        {
            await Lab.RunAsync("pg up");
        }
    }

    [Fact]
    public async Task Health_turns_degraded_on_a_primary_crash_and_healthy_after_recovery()
    {
        using var drill = await Lab.DrillLockAsync(LockWait);
        await using var app = await TestApp.StartAsync(LabSettings("haclient-aspnet-crash", redis: false));
        Assert.True(await Lab.EventuallyAsync(() => StatusIsAsync(app, "Healthy", "127.0.0.1:15432"), TimeSpan.FromSeconds(20)), "never healthy");
        var sw = Stopwatch.StartNew();

        // /health/live must answer 200 throughout the crash and the recovery: a database outage never restarts pods.
        using var stopLive = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        var liveAnswers = new List<HttpStatusCode>();
        var livePoller = Task.Run(async () =>
        {
            while (!stopLive.IsCancellationRequested)
            {
                liveAnswers.Add((await app.Client.GetAsync("/health/live", CancellationToken.None)).StatusCode);
                await Task.Delay(50, CancellationToken.None);
            }
        });
        try
        {
            await Lab.RunAsync("pg crash-primary");
            Assert.True(await Lab.EventuallyAsync(() => StatusIsAsync(app, "Degraded"), TimeSpan.FromSeconds(20)), "never degraded after the crash");
            _output.WriteLine($"degraded after {sw.ElapsedMilliseconds} ms");
            Assert.Equal(HttpStatusCode.OK, (await app.Client.GetAsync("/health")).StatusCode);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await app.Client.GetAsync("/health/ready")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await app.Client.GetAsync("/health/live")).StatusCode);
        }
        finally
        {
            await Lab.RunAsync("pg up");
        }

        Assert.True(await Lab.EventuallyAsync(() => StatusIsAsync(app, "Healthy", "127.0.0.1:15432"), TimeSpan.FromSeconds(60)), "never healthy again");
        _output.WriteLine($"healthy again after {sw.ElapsedMilliseconds} ms");
        Assert.Equal(HttpStatusCode.OK, (await app.Client.GetAsync("/health/ready")).StatusCode);
        await stopLive.CancelAsync();
        await livePoller;
        Assert.True(liveAnswers.Count > 20, $"only {liveAnswers.Count} liveness answers were sampled");
        Assert.All(liveAnswers, code => Assert.Equal(HttpStatusCode.OK, code));
    }
}
