using Xunit;
using Xunit.Abstractions;

namespace HaClient.AspNetCore.Tests;

/// <summary>The dashboard and the alert rules under docs/operations are checked by Prometheus's own promtool (Debian's
/// <c>prometheus</c> package; eng/test.sh installs it with the lab). That every metric they read exists in a real scrape
/// is checked across a failover in <see cref="SampleFailoverTests"/>.</summary>
public sealed class OperatorAssetsTests
{
    private readonly ITestOutputHelper _output;

    public OperatorAssetsTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public async Task The_alert_rules_pass_promtool_check_rules()
    {
        var (code, output) = await PromtoolOrFailAsync($"check rules \"{OperatorAssets.AlertRules}\"");
        _output.WriteLine(output);
        Assert.True(code == 0, output);
    }

    [Fact]
    public async Task The_alert_rules_fire_as_their_promtool_unit_tests_expect()
    {
        var (code, output) = await PromtoolOrFailAsync($"test rules \"{Path.ChangeExtension(OperatorAssets.AlertRules, ".test.yml")}\"");
        _output.WriteLine(output);
        Assert.True(code == 0, output);
    }

    [Fact]
    public async Task Every_dashboard_query_is_valid_promql()
    {
        // promtool checks expressions inside rule files: each query becomes a recording rule.
        var queries = OperatorAssets.DashboardQueries();
        Assert.True(queries.Count >= 15, $"only {queries.Count} queries found in the dashboard");
        var file = Path.Combine(Path.GetTempPath(), $"haclient-dashboard-queries-{Guid.NewGuid():N}.yml");
        var rules = queries.Select((q, i) => $"      - record: dashboard_query_{i}\n        expr: '{q.Replace("'", "''")}'");
        await File.WriteAllTextAsync(file, "groups:\n  - name: dashboard\n    rules:\n" + string.Join('\n', rules) + "\n");
        try
        {
            var (code, output) = await PromtoolOrFailAsync($"check rules \"{file}\"");
            _output.WriteLine(output);
            Assert.True(code == 0, output);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Metric_names_are_read_from_queries_without_labels_functions_or_ranges()
    {
        Assert.Equal(
            ["haclient_endpoint_role"],
            OperatorAssets.MetricNames("sum by (job, haclient_cluster) (haclient_endpoint_role{haclient_role=\"primary\", x=~\"a|b\"}) == 0"));
        Assert.Equal(
            ["http_server_request_duration_seconds_bucket"],
            OperatorAssets.MetricNames("histogram_quantile(0.99, sum by (le) (rate(http_server_request_duration_seconds_bucket[5m])))"));
        Assert.Equal(
            ["haclient_pool_in_flight", "haclient_pool_limit"],
            OperatorAssets.MetricNames("haclient_pool_in_flight / on (haclient_endpoint) group_left() haclient_pool_limit >= 1"));
        var names = OperatorAssets.DashboardQueries().SelectMany(OperatorAssets.MetricNames).ToHashSet();
        Assert.Contains("haclient_failover_duration_seconds_bucket", names);
        Assert.DoesNotContain("haclient_cluster", names);
    }

    private static async Task<(int ExitCode, string Output)> PromtoolOrFailAsync(string arguments)
    {
        Assert.True(File.Exists(OperatorAssets.Promtool), $"{OperatorAssets.Promtool} is absent: install Debian's prometheus package (bash eng/lab.sh install does).");
        return await OperatorAssets.PromtoolAsync(arguments);
    }
}
