using System.Diagnostics;

namespace HaClient.Testing;

/// <summary>Runs a command to its end within a bounded time and returns what it printed.</summary>
public static class Processes
{
    /// <summary>Runs <paramref name="file"/> with <paramref name="arguments"/>; kills it (and its children) after
    /// <paramref name="timeout"/>.</summary>
    /// <exception cref="TimeoutException">It ran longer than <paramref name="timeout"/>.</exception>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string file, string arguments, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(file, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
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
            throw new TimeoutException($"{Path.GetFileName(file)} {arguments} took longer than {timeout.TotalSeconds} s");
        }

        return (p.ExitCode, await stdout, await stderr);
    }
}
