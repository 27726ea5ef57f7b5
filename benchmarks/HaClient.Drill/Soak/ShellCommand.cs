using System.Diagnostics;
using System.Globalization;

namespace HaClient.Drill.Soak;

/// <summary>Runs a fault, heal or healed-check command with <c>bash -c</c>, bounded in time (the whole process tree is
/// killed at the bound).</summary>
public static class ShellCommand
{
    public sealed record Result(int ExitCode, string Output, double? FaultAtUnixMs, bool TimedOut)
    {
        /// <summary>The last few lines of the output, for a failed command's detail.</summary>
        public string Tail(int lines = 4) => string.Join(" | ", Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).TakeLast(lines));
    }

    public static async Task<Result> RunAsync(string command, string workingDirectory, TimeSpan timeout, CancellationToken ct = default)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workingDirectory };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(command);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("bash did not start");
        var stdout = p.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = p.StandardError.ReadToEndAsync(CancellationToken.None);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        var timedOut = false;
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            timedOut = true;
            p.Kill(entireProcessTree: true);
            await p.WaitForExitAsync(CancellationToken.None);
        }

        var output = await stdout + await stderr;
        var line = (await stdout).Split('\n').LastOrDefault(l => l.StartsWith("fault_at_ms=", StringComparison.Ordinal));
        double? faultAt = line is not null && double.TryParse(line["fault_at_ms=".Length..].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var f) ? f : null;
        return new Result(timedOut ? -1 : p.ExitCode, output, faultAt, timedOut);
    }
}
