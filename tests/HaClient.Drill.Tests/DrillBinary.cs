using System.Diagnostics;
using System.Text.Json;

namespace HaClient.DrillTests;

/// <summary>Runs haclient-drill (the built drill, or an installed tool) to its end, bounded, and reads its report.</summary>
internal static class DrillBinary
{
    /// <summary>The drill built beside this test assembly's configuration (Release under eng/test.sh).</summary>
    public static string Dll => Path.Combine(Lab.RepoRoot, "benchmarks", "HaClient.Drill", "bin",
        AppContext.BaseDirectory.Contains("/Debug/", StringComparison.Ordinal) ? "Debug" : "Release", "net10.0", "HaClient.Drill.dll");

    public static async Task<(int ExitCode, string Output)> RunAsync(string file, IEnumerable<string> args, TimeSpan timeout, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workingDirectory ?? Lab.RepoRoot };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{Path.GetFileName(file)} took longer than {timeout.TotalSeconds} s:\n{Tail(await stdout)}");
        }

        return (p.ExitCode, await stdout + await stderr);
    }

    /// <summary>The report's last JSON line.</summary>
    public static JsonElement Summary(string output)
    {
        var line = output.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.StartsWith("{\"tool\":\"haclient-drill\"", StringComparison.Ordinal));
        Assert.True(line is not null, "no JSON summary line in:\n" + Tail(output));
        return JsonDocument.Parse(line!).RootElement;
    }

    public static string Tail(string output, int lines = 60) => string.Join('\n', output.Split('\n').TakeLast(lines));
}
