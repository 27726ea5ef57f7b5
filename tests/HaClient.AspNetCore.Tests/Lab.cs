using System.Diagnostics;
using Xunit;

namespace HaClient.AspNetCore.Tests;

/// <summary>Runs eng/lab.sh verbs against the real servers on 127.0.0.1.</summary>
public static class Lab
{
    public const string Credentials = "Username=haclient;Password=haclient-lab-pw;Database=haclient";

    public static string RepoRoot { get; } = FindRepoRoot();

    public static async Task<string> RunAsync(string verbs, int timeoutSeconds = 180)
    {
        var psi = new ProcessStartInfo("bash", $"{Path.Combine(RepoRoot, "eng", "lab.sh")} {verbs}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"lab.sh {verbs} took longer than {timeoutSeconds} s");
        }

        var output = await stdout;
        var errors = await stderr;
        Assert.True(p.ExitCode == 0, $"lab.sh {verbs} exited {p.ExitCode}: {output}\n{errors}");
        return output;
    }

    /// <summary>Holds /tmp/haclient-lab/drill.lock (the lab's convention for whole drills and fault tests, compatible with
    /// <c>flock</c>) so a fault test never overlaps another drill on the same lab.</summary>
    public static async Task<IDisposable> DrillLockAsync(TimeSpan timeout)
    {
        Directory.CreateDirectory("/tmp/haclient-lab");
        var sw = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return new FileStream("/tmp/haclient-lab/drill.lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (sw.Elapsed < timeout)
            {
                await Task.Delay(500);
            }
        }
    }

    /// <summary>Polls <paramref name="condition"/> until it holds or <paramref name="timeout"/> passes.</summary>
    public static async Task<bool> EventuallyAsync(Func<Task<bool>> condition, TimeSpan timeout, int pollMs = 50)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < timeout)
        {
            if (await condition())
            {
                return true;
            }

            await Task.Delay(pollMs);
        }

        return await condition();
    }

    private static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "HaClient.sln")))
            {
                return d.FullName;
            }
        }

        throw new InvalidOperationException("HaClient.sln not found above " + AppContext.BaseDirectory);
    }
}
