using System.Diagnostics;

namespace HaClient.Drill;

/// <summary>Runs eng/lab.sh verbs (bounded in time) and reads their <c>fault_at_ms=</c> line.</summary>
public static class Lab
{
    public static async Task<(int ExitCode, string Output)> RunAsync(DrillArgs args, string verbs, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo("bash", $"{args.LabScript} {verbs}") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
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
            throw new TimeoutException($"lab.sh {verbs} did not finish within {timeout}");
        }

        return (p.ExitCode, await stdout + await stderr);
    }

    /// <summary>Runs a fault verb and returns the fault instant as Unix ms (from its last <c>fault_at_ms=</c> line).</summary>
    public static async Task<long> FaultAsync(DrillArgs args, string verbs)
    {
        var (code, output) = await RunAsync(args, verbs, TimeSpan.FromSeconds(90));
        if (code != 0) throw new InvalidOperationException($"lab.sh {verbs} failed ({code}): {output}");
        var line = output.Split('\n').LastOrDefault(l => l.StartsWith("fault_at_ms=", StringComparison.Ordinal));
        return line is null ? DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() : long.Parse(line["fault_at_ms=".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public static double NowUnixMs() => (DateTime.UtcNow - DateTime.UnixEpoch).TotalMilliseconds;
}
