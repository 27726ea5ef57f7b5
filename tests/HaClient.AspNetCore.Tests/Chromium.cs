using System.Diagnostics;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Xunit;
using Xunit.Abstractions;

namespace HaClient.AspNetCore.Tests;

/// <summary>A fact that is skipped, saying why, when Debian's Chromium is not installed.</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public const string ChromiumPath = "/usr/bin/chromium";

    public ChromiumFactAttribute()
    {
        if (!File.Exists(ChromiumPath))
        {
            Skip = $"{ChromiumPath} is absent: install Debian's chromium (apt-get install chromium) to run the topology page test.";
        }
    }
}

/// <summary>The sample's live topology page (samples/HaClient.Sample/wwwroot/topology.html) rendered by headless
/// Chromium before and after a failover on the plain lab.</summary>
[Collection("aspnet-lab")]
[Trait("Category", "Lab")]
public sealed class TopologyPageTests
{
    private readonly ITestOutputHelper _output;

    public TopologyPageTests(ITestOutputHelper output) => _output = output;

    [ChromiumFact]
    public async Task Topology_page_lists_the_new_primary_after_a_failover()
    {
        using var drill = await Lab.DrillLockAsync(TimeSpan.FromMinutes(8));
        await using var app = await TestApp.StartAsync(LabTests.LabSettings("haclient-aspnet-page", redis: false), configure: a => a.UseStaticFiles());
        Assert.True(await Lab.EventuallyAsync(() => LabTests.StatusIsAsync(app, "Healthy", "127.0.0.1:15432"), TimeSpan.FromSeconds(20)), "never healthy");

        var before = await RenderAsync(app, "before");
        Assert.Matches(PrimaryRow("127.0.0.1:15432"), before);
        Assert.DoesNotContain(LabTests.Password, before, StringComparison.Ordinal);
        try
        {
            await Lab.RunAsync("pg crash-primary");
            await Lab.RunAsync("pg promote n2");
            Assert.True(await Lab.EventuallyAsync(() => LabTests.StatusIsAsync(app, "Degraded", "127.0.0.1:15433"), TimeSpan.FromSeconds(30)), "the cluster never adopted n2 as primary");

            var after = await RenderAsync(app, "after");
            Assert.Matches(PrimaryRow("127.0.0.1:15433"), after);
            Assert.Matches(new Regex("<tr data-endpoint=\"127\\.0\\.0\\.1:15432\" data-role=\"down\">"), after);
        }
        finally
        {
            await Lab.RunAsync("pg reset", timeoutSeconds: 240);
        }
    }

    private static Regex PrimaryRow(string endpoint) => new($"<tr data-endpoint=\"{Regex.Escape(endpoint)}\" data-role=\"primary\">");

    /// <summary>Loads /topology.html in headless Chromium (its script fetches /health) and returns the DOM; also saves a
    /// screenshot next to the test assembly.</summary>
    private async Task<string> RenderAsync(TestApp app, string label)
    {
        var url = new Uri(app.BaseAddress, "/topology.html").ToString();
        var dom = await RunChromiumAsync($"--virtual-time-budget=4000 --dump-dom {url}");
        var screenshot = Path.Combine(AppContext.BaseDirectory, $"topology-{label}.png");
        await RunChromiumAsync($"--virtual-time-budget=4000 --window-size=1000,600 --screenshot={screenshot} {url}");
        _output.WriteLine($"{label}: screenshot {screenshot}");
        return dom;
    }

    private static async Task<string> RunChromiumAsync(string arguments)
    {
        var profile = Directory.CreateTempSubdirectory("haclient-chromium-");
        try
        {
            var psi = new ProcessStartInfo(ChromiumFactAttribute.ChromiumPath,
                $"--headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update --disable-sync --no-first-run --user-data-dir={profile.FullName} {arguments}")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            try
            {
                await p.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                p.Kill(entireProcessTree: true);
                throw new TimeoutException("chromium took longer than 60 s");
            }

            await stderr;
            return await stdout;
        }
        finally
        {
            profile.Delete(recursive: true);
        }
    }
}
