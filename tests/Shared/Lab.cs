using System.Diagnostics;
using Xunit;

namespace HaClient.Testing;

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

    /// <summary>Holds /tmp/haclient-lab/drill.lock (the lab's convention for whole drills and fault tests) so a fault test
    /// never overlaps another drill on the same lab. The lock is taken by a <c>flock</c> child process, which waits in
    /// the kernel's queue like every other drill (a poller would keep losing to them) and holds it until disposed.</summary>
    /// <remarks>Under <c>eng/test.sh</c>, which holds the same lock for its whole run and says so in
    /// <see cref="SessionLockVariable"/>, this takes nothing: a second <c>flock</c> on the file from inside that run would
    /// wait for the run itself (the lock belongs to an open file, not to a process tree). The run's test projects and
    /// collections run one at a time, so its fault tests still never overlap.</remarks>
    public static async Task<IDisposable> DrillLockAsync(TimeSpan timeout)
    {
        if (Environment.GetEnvironmentVariable(SessionLockVariable) == "1")
        {
            return new HeldBySession();
        }

        Directory.CreateDirectory("/tmp/haclient-lab");
        var psi = new ProcessStartInfo("flock", $"-w {(int)timeout.TotalSeconds} /tmp/haclient-lab/drill.lock sh -c \"echo locked; exec cat\"")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        var holder = Process.Start(psi)!;
        var line = await holder.StandardOutput.ReadLineAsync().WaitAsync(timeout + TimeSpan.FromSeconds(10));
        if (line != "locked")
        {
            holder.Kill(entireProcessTree: true);
            holder.Dispose();
            throw new TimeoutException($"/tmp/haclient-lab/drill.lock not acquired within {timeout} (another drill holds it)");
        }

        return new DrillLock(holder);
    }

    /// <summary>Set to 1 by whoever holds /tmp/haclient-lab/drill.lock around a whole test run (eng/test.sh, or
    /// <c>flock LOCK env HACLIENT_LAB_SESSION_LOCKED=1 dotnet test ...</c>).</summary>
    public const string SessionLockVariable = "HACLIENT_LAB_SESSION_LOCKED";

    private sealed class HeldBySession : IDisposable
    {
        public void Dispose()
        {
        }
    }

    private sealed class DrillLock(Process holder) : IDisposable
    {
        public void Dispose()
        {
            // Closing stdin ends cat, and with it flock, which releases the lock.
            holder.StandardInput.Close();
            if (!holder.WaitForExit(5000))
            {
                holder.Kill(entireProcessTree: true);
            }

            holder.Dispose();
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
