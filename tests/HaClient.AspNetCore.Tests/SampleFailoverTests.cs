using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace HaClient.AspNetCore.Tests;

/// <summary>The real sample across a real failover on the plain lab (crash the primary, promote n2), read as an operator
/// reads it: its /metrics (the failover counter, the failover's bucket, the HTTP, Npgsql, Redis and HaClient series,
/// every metric the dashboard and the alert rules query) and its topology page in headless Chromium (the live view and
/// the history).</summary>
[Collection("aspnet-lab")]
[Trait("Category", "Lab")]
public sealed partial class SampleFailoverTests
{
    private const string OldPrimary = "127.0.0.1:15432";
    private const string NewPrimary = "127.0.0.1:15433";
    private readonly ITestOutputHelper _output;

    public SampleFailoverTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public async Task Across_a_failover_the_sample_counts_one_failover_in_a_fine_bucket_and_its_topology_page_shows_it()
    {
        using var drill = await Lab.DrillLockAsync(TimeSpan.FromMinutes(8));
        await using var sample = await SampleProcess.StartAsync(TimeSpan.FromSeconds(60));
        try
        {
            Assert.True(await Lab.EventuallyAsync(() => PostgresPrimaryIsAsync(sample, OldPrimary, "Healthy"), TimeSpan.FromSeconds(30)), "never healthy on " + OldPrimary);
            await TrafficAsync(sample);
            var before = OperatorAssets.ParseScrape(await sample.ScrapeAsync());
            Assert.Equal(0, Single(before, "haclient_failovers_total", "main"));
            if (File.Exists(Chromium.Path))
            {
                var page = await Chromium.DumpDomAsync(new Uri(sample.BaseAddress, "/topology.html"));
                Assert.Matches(Row(OldPrimary, "primary"), page);
                Assert.DoesNotContain(LabTests.Password, page, StringComparison.Ordinal);
            }

            await Lab.RunAsync("pg crash-primary");
            await Lab.RunAsync("pg promote n2");
            Assert.True(await Lab.EventuallyAsync(() => PostgresPrimaryIsAsync(sample, NewPrimary, null), TimeSpan.FromSeconds(30)), "the sample never adopted n2 as primary");
            await TrafficAsync(sample);

            // The exporter may serve a cached scrape for a moment.
            List<(string Name, Dictionary<string, string> Labels, double Value)> after = [];
            Assert.True(await Lab.EventuallyAsync(async () =>
            {
                after = OperatorAssets.ParseScrape(await sample.ScrapeAsync());
                return Single(after, "haclient_failovers_total", "main") >= 1 && after.Any(s => s.Name == "haclient_failover_duration_seconds_bucket");
            }, TimeSpan.FromSeconds(10), pollMs: 250), "no failover in /metrics");
            Assert.Equal(1, Single(after, "haclient_failovers_total", "main"));
            AssertFailoverInAFineBucket(after);
            AssertSeriesPresent(after);
            AssertEveryQueriedMetricIsExported(after);

            if (File.Exists(Chromium.Path))
            {
                await AssertTopologyPageShowsTheFailoverAsync(sample);
            }
            else
            {
                _output.WriteLine($"{Chromium.Path} is absent: the topology page was not rendered.");
            }
        }
        catch
        {
            _output.WriteLine("sample log:\n" + sample.Log);
            throw;
        }
        finally
        {
            await Lab.RunAsync("pg reset", timeoutSeconds: 240);
        }
    }

    /// <summary>The bucket the one failover landed in is narrower than 100 ms.</summary>
    private void AssertFailoverInAFineBucket(List<(string Name, Dictionary<string, string> Labels, double Value)> scrape)
    {
        var buckets = scrape.Where(s => s.Name == "haclient_failover_duration_seconds_bucket" && s.Labels["haclient_cluster"] == "main")
            .Select(s => (Le: s.Labels["le"] == "+Inf" ? double.PositiveInfinity : double.Parse(s.Labels["le"], CultureInfo.InvariantCulture), Count: s.Value))
            .OrderBy(b => b.Le).ToList();
        var first = buckets.FindIndex(b => b.Count >= 1);
        Assert.True(first >= 0, "the failover is in no bucket");
        var lower = first == 0 ? 0 : buckets[first - 1].Le;
        var upper = buckets[first].Le;
        var sum = scrape.Single(s => s.Name == "haclient_failover_duration_seconds_sum" && s.Labels["haclient_cluster"] == "main").Value;
        _output.WriteLine($"failover took {sum * 1000:F0} ms: bucket ({lower}, {upper}] s, {(upper - lower) * 1000:F0} ms wide, of {buckets.Count} buckets");
        Assert.True(upper - lower < 0.1, $"the failover ({sum} s) landed in ({lower}, {upper}], {upper - lower} s wide");
    }

    /// <summary>HTTP (ASP.NET Core), Npgsql (a pool per host) and HaClient series, for Postgres and Redis alike.</summary>
    private static void AssertSeriesPresent(List<(string Name, Dictionary<string, string> Labels, double Value)> scrape)
    {
        Assert.Contains(scrape, s => s.Name == "http_server_request_duration_seconds_count" && s.Labels.GetValueOrDefault("http_route") == "/items/{id:long}");
        Assert.Contains(scrape, s => s.Name == "db_client_connection_count" && s.Labels.GetValueOrDefault("db_client_connection_pool_name") == "main/" + NewPrimary && s.Labels["db_client_connection_state"] == "used");
        Assert.Contains(scrape, s => s.Name == "db_client_connection_max" && s.Labels.GetValueOrDefault("db_client_connection_pool_name") == "main/" + NewPrimary);
        Assert.Contains(scrape, s => s.Name == "db_client_operation_duration_seconds_count");
        Assert.Contains(scrape, s => s.Name == "haclient_operations_total" && s.Labels["db_system_name"] == "redis" && s.Labels["haclient_outcome"] == "success");
        Assert.Contains(scrape, s => s.Name == "haclient_operations_total" && s.Labels["db_system_name"] == "postgresql" && s.Labels["haclient_operation"] == "write" && s.Labels["haclient_target_role"] == "primary");
        Assert.Contains(scrape, s => s.Name == "haclient_operation_duration_seconds_bucket" && s.Labels["db_system_name"] == "redis");
        Assert.Contains(scrape, s => s.Name == "haclient_endpoint_role" && s.Labels["haclient_endpoint"] == NewPrimary && s.Labels["haclient_role"] == "primary" && s.Value == 1);
        Assert.Contains(scrape, s => s.Name == "haclient_endpoint_role" && s.Labels["haclient_endpoint"] == OldPrimary && s.Labels["haclient_role"] == "down" && s.Value == 1);
        Assert.DoesNotContain(scrape, s => s.Labels.Values.Any(v => v.Contains(LabTests.Password, StringComparison.Ordinal)));
    }

    /// <summary>Every metric docs/operations/haclient-dashboard.json and haclient-alerts.yml query is in the scrape.</summary>
    private void AssertEveryQueriedMetricIsExported(List<(string Name, Dictionary<string, string> Labels, double Value)> scrape)
    {
        var exported = scrape.Select(s => s.Name).ToHashSet();
        var queried = OperatorAssets.DashboardQueries().Concat(OperatorAssets.AlertQueries()).SelectMany(OperatorAssets.MetricNames).ToHashSet();
        Assert.True(queried.Count >= 15, $"only {queried.Count} metrics queried: {string.Join(", ", queried)}");
        _output.WriteLine($"the dashboard and the alert rules query {queried.Count} metrics: {string.Join(", ", queried.Order())}");
        Assert.Empty(queried.Where(m => !exported.Contains(m)).Order());
    }

    private async Task AssertTopologyPageShowsTheFailoverAsync(SampleProcess sample)
    {
        var url = new Uri(sample.BaseAddress, "/topology.html");
        var page = await Chromium.DumpDomAsync(url);
        Assert.Matches(Row(NewPrimary, "primary"), page);
        Assert.Matches(Row(OldPrimary, "down"), page);
        var failover = FailoverItem().Match(page);
        Assert.True(failover.Success, "no failover in the page's history");
        Assert.Equal(NewPrimary, failover.Groups["endpoint"].Value);
        _output.WriteLine($"the page shows the failover to {NewPrimary} in {failover.Groups["ms"].Value} ms");
        Assert.Matches(new Regex($"<li data-kind=\"role\" data-endpoint=\"{Regex.Escape(OldPrimary)}\" data-role=\"down\">"), page);
        Assert.Matches(new Regex("<polyline [^>]*data-endpoint=\"127\\.0\\.0\\.1:15434\""), page);
        var screenshot = Path.Combine(AppContext.BaseDirectory, "topology-after-failover.png");
        await Chromium.ScreenshotAsync(url, screenshot, 1000, 1250);
        _output.WriteLine($"screenshot {screenshot}");
    }

    private static async Task TrafficAsync(SampleProcess sample)
    {
        var created = await sample.Client.PostAsJsonAsync("/items", new { name = "failover-metrics" });
        created.EnsureSuccessStatusCode();
        using var item = JsonDocument.Parse(await created.Content.ReadAsStringAsync());
        var id = item.RootElement.GetProperty("id").GetInt64();
        (await sample.Client.GetAsync($"/items/{id}")).EnsureSuccessStatusCode();
        (await sample.Client.GetAsync("/cached/greeting")).EnsureSuccessStatusCode();
        (await sample.Client.GetAsync("/visits")).EnsureSuccessStatusCode();
    }

    private static async Task<bool> PostgresPrimaryIsAsync(SampleProcess sample, string primary, string? status)
    {
        using var doc = JsonDocument.Parse(await sample.Client.GetStringAsync("/health"));
        var postgres = doc.RootElement.GetProperty("components").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "main");
        return postgres.GetProperty("primary").GetString() == primary && (status is null || doc.RootElement.GetProperty("status").GetString() == status);
    }

    private static double Single(List<(string Name, Dictionary<string, string> Labels, double Value)> scrape, string name, string cluster)
        => Assert.Single(scrape, s => s.Name == name && s.Labels.GetValueOrDefault("haclient_cluster") == cluster).Value;

    private static Regex Row(string endpoint, string role) => new($"<tr data-endpoint=\"{Regex.Escape(endpoint)}\" data-role=\"{role}\">");

    [GeneratedRegex("<li data-kind=\"failover\" data-endpoint=\"(?<endpoint>[^\"]*)\" data-role=\"primary\" data-duration-ms=\"(?<ms>[0-9.]+)\">")]
    private static partial Regex FailoverItem();
}
