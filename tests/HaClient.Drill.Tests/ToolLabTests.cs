namespace HaClient.DrillTests;

/// <summary>The drill as a tool: packed, installed from the .nupkg into a fresh tool path, run against the lab with a
/// fault command on the command line; a threshold that holds passes (exit 0), one that cannot hold fails (exit 1).</summary>
[Trait("Category", "Lab")]
public sealed class ToolLabTests
{
    [Fact]
    public async Task The_packed_tool_reports_a_switchover_and_exits_non_zero_when_a_threshold_is_missed()
    {
        var work = Directory.CreateTempSubdirectory("haclient-drill-tool-");
        try
        {
            var packages = Path.Combine(work.FullName, "packages");
            var tools = Path.Combine(work.FullName, "tools");
            var project = Path.Combine(Lab.RepoRoot, "benchmarks", "HaClient.Drill", "HaClient.Drill.csproj");
            // Built into the temp folder: the drill's own bin/ may be in use by another run on this checkout.
            var (packCode, packOut) = await DrillBinary.RunAsync("dotnet", ["pack", project, "-c", "Release", "-nologo", "-o", packages,
                $"-p:OutputPath={work.FullName}/bin/", $"-p:IntermediateOutputPath={work.FullName}/obj/"], TimeSpan.FromMinutes(8));
            Assert.True(packCode == 0, "dotnet pack failed:\n" + DrillBinary.Tail(packOut));
            Assert.Single(Directory.GetFiles(packages, "HaClient.Drill.*.nupkg"));
            var (installCode, installOut) = await DrillBinary.RunAsync("dotnet", ["tool", "install", "--tool-path", tools, "--add-source", packages, "HaClient.Drill"], TimeSpan.FromMinutes(5), work.FullName);
            Assert.True(installCode == 0, "dotnet tool install failed:\n" + DrillBinary.Tail(installOut));
            var tool = Path.Combine(tools, "haclient-drill");
            Assert.True(File.Exists(tool));

            using var _ = await Lab.DrillLockAsync(TimeSpan.FromMinutes(40));
            await Lab.RunAsync("patroni up --sync", 300);
            const string pg = "Host=127.0.0.1:15442,127.0.0.1:15443,127.0.0.1:15444;" + Lab.Credentials;
            var lab = Path.Combine(Lab.RepoRoot, "eng", "lab.sh");
            string[] Run(string maxWindow) => ["run", "--pg", pg, "--fault", $"switchover=bash {lab} patroni switchover", "--max-window", maxWindow, "--max-lost", "0",
                "--warm-up", "5s", "--settle", "3s", "--heal-timeout", "120s"];

            var (okCode, okOut) = await DrillBinary.RunAsync(tool, Run("30s"), TimeSpan.FromMinutes(5), work.FullName);
            var ok = DrillBinary.Summary(okOut);
            Assert.True(okCode == 0 && ok.GetProperty("passed").GetBoolean(), $"exit {okCode}:\n" + DrillBinary.Tail(okOut));
            Assert.Contains("switchover", okOut);
            Assert.Contains("PASSED", okOut);
            Assert.Equal(1, ok.GetProperty("faults").GetInt32());

            // A switchover cannot be done with no gap between acknowledged writes of under 1 ms.
            var (failCode, failOut) = await DrillBinary.RunAsync(tool, Run("1ms"), TimeSpan.FromMinutes(5), work.FullName);
            Assert.True(failCode == 1, $"exit {failCode} (want 1):\n" + DrillBinary.Tail(failOut));
            Assert.False(DrillBinary.Summary(failOut).GetProperty("passed").GetBoolean());
            Assert.Contains("> --max-window 1 ms", failOut);

            Assert.DoesNotContain("haclient-lab-pw", okOut + failOut);
            await Lab.RunAsync("patroni up", 300); // asynchronous again, as the other test projects expect
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }
}
