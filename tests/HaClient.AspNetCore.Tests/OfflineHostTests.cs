using System.Net;
using System.Text.Json;
using HaClient.Postgres;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Polly.CircuitBreaker;
using Xunit;

namespace HaClient.AspNetCore.Tests;

/// <summary>A host whose database is down (a closed loopback port): the app starts, stays live, reports unhealthy, and
/// answers failover errors with 503 instead of 500 or a hang.</summary>
public sealed class OfflineHostTests
{
    private const string Secret = "offline-s3cret";

    private static Dictionary<string, string?> DownCluster() => DownCluster(TestApp.ClosedPorts(2));

    private static Dictionary<string, string?> DownCluster(int[] ports) => new()
    {
        ["HighAvailability:Postgres:main:ConnectionString"] = $"Host=127.0.0.1:{ports[0]},127.0.0.1:{ports[1]};Username=u;Password={Secret};Database=d",
        ["HighAvailability:Postgres:main:ProbeInterval"] = "00:00:00.200",
        ["HighAvailability:Postgres:main:Resilience:OperationTimeout"] = "00:00:00.500",
        ["HighAvailability:RetryAfter"] = "00:00:02",
    };

    [Fact]
    public async Task Database_down_at_start_leaves_the_app_live_and_reports_unhealthy()
    {
        await using var app = await TestApp.StartAsync(DownCluster(), configure: a =>
        {
            a.MapHealthChecks("/hc/live", new HealthCheckOptions { Predicate = r => r.Tags.Contains("live") });
            a.MapHealthChecks("/hc/ready", new HealthCheckOptions { Predicate = r => r.Tags.Contains("ready") });
        });
        var live = await app.Client.GetAsync("/health/live");
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        Assert.Equal("Healthy", await live.Content.ReadAsStringAsync());

        Assert.True(await Lab.EventuallyAsync(async () =>
        {
            var r = await app.Client.GetAsync("/health");
            if (r.StatusCode != HttpStatusCode.ServiceUnavailable)
            {
                return false;
            }

            using var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
            var hosts = doc.RootElement.GetProperty("components")[0].GetProperty("hosts");
            return doc.RootElement.GetProperty("status").GetString() == "Unhealthy" && hosts.EnumerateArray().All(h => h.GetProperty("role").GetString() == "down");
        }, TimeSpan.FromSeconds(15)), "health never reported both hosts down");

        var body = await app.Client.GetStringAsync("/health/live");
        Assert.Equal("Healthy", body);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await app.Client.GetAsync("/health/ready")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await app.Client.GetAsync("/hc/live")).StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await app.Client.GetAsync("/hc/ready")).StatusCode);
        var health = await (await app.Client.GetAsync("/health")).Content.ReadAsStringAsync();
        Assert.DoesNotContain(Secret, health, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Health_json_allocates_little()
    {
        await using var app = await TestApp.StartAsync(DownCluster());
        Assert.True(await Lab.EventuallyAsync(async () => (await app.Client.GetAsync("/health")).StatusCode == HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(15)));
        var health = app.App.Services.GetRequiredService<HaClient.AspNetCore.Health.HighAvailabilityHealth>();
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(64 * 1024);
        for (var i = 0; i < 10; i++)
        {
            buffer.ResetWrittenCount();
            health.WriteJson(buffer, static (_, _) => { }, 0);
        }

        const int Calls = 200;
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < Calls; i++)
        {
            buffer.ResetWrittenCount();
            health.WriteJson(buffer, static (_, _) => { }, 0);
            health.Evaluate();
        }

        var perCall = (GC.GetAllocatedBytesForCurrentThread() - before) / Calls;
        Assert.True(perCall <= 512, $"{perCall} bytes allocated per health answer");
        Assert.Contains("\"hosts\"", System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Failover_errors_become_503_problem_details_with_retry_after()
    {
        await using var app = await TestApp.StartAsync(DownCluster(), configure: a =>
        {
            a.MapPost("/write", async (PostgresCluster cluster, IReadYourWrites rw, CancellationToken ct) =>
                await cluster.ExecuteWriteAsync(rw, async (c, t) =>
                {
                    await using var cmd = new NpgsqlCommand("SELECT 1", c);
                    return await cmd.ExecuteScalarAsync(t);
                }, ct));
            a.MapGet("/broken", IResult () => throw new BrokenCircuitException("open"));
            a.MapGet("/unknown", IResult () => throw new WriteOutcomeUnknownException("127.0.0.1:5432", null));
            a.MapGet("/not-committed", IResult () => throw new WriteNotCommittedException("127.0.0.1:5432", null));
        });

        var started = DateTime.UtcNow;
        var write = await app.Client.PostAsync("/write", null);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10), "the write hung");
        await AssertProblemAsync(write, "NoEligibleEndpointException", safeToRetry: true);
        await AssertProblemAsync(await app.Client.GetAsync("/broken"), "BrokenCircuitException", safeToRetry: true);
        await AssertProblemAsync(await app.Client.GetAsync("/unknown"), "WriteOutcomeUnknownException", safeToRetry: false);
        await AssertProblemAsync(await app.Client.GetAsync("/not-committed"), "WriteNotCommittedException", safeToRetry: true);
    }

    private static async Task AssertProblemAsync(HttpResponseMessage response, string error, bool safeToRetry)
    {
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("2", response.Headers.GetValues("Retry-After").Single());
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var text = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain(Secret, text, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(text);
        Assert.Equal(503, doc.RootElement.GetProperty("status").GetInt32());
        Assert.Equal(error, doc.RootElement.GetProperty("error").GetString());
        Assert.Equal(safeToRetry, doc.RootElement.GetProperty("safeToRetry").GetBoolean());
    }

    [Fact]
    public async Task Shutdown_drains_in_flight_requests_then_disposes_the_clusters()
    {
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var app = await TestApp.StartAsync(DownCluster(), configure: a => a.MapGet("/slow", async () =>
        {
            entered.SetResult();
            await release.Task;
            return "done";
        }));
        var cluster = app.App.Services.GetRequiredService<PostgresCluster>();
        var request = app.Client.GetStringAsync("/slow");
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var stopping = app.App.StopAsync();
        Assert.False(stopping.IsCompleted, "the host stopped while a request was in flight");
        release.SetResult();
        Assert.Equal("done", await request.WaitAsync(TimeSpan.FromSeconds(10)));
        await stopping.WaitAsync(TimeSpan.FromSeconds(30));
        await app.App.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => cluster.ExecuteReadAsync((c, t) => Task.FromResult(1)));
        app.Client.Dispose();
    }
}
