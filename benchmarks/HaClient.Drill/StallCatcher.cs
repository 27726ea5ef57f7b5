using System.Diagnostics;

namespace HaClient.Drill;

/// <summary>
/// Opt-in (<c>HACLIENT_DRILL_STALL_DUMP=DIR</c>): a dedicated thread queues a marker work item to the thread pool every
/// 20 ms and, when one has waited longer than 250 ms (the pool is stalled), takes the process's managed stacks with
/// <c>dotnet-stack report</c> into DIR, with the pool's thread and queue counts. At most three dumps per run, at least
/// 1 s apart. It exists to find what holds the pool during a frozen node (docs/lab-report.md, "the stall").
/// </summary>
public sealed class StallCatcher
{
    private readonly string _dir;
    private readonly Thread _thread;
    private volatile bool _stop;
    private long _queuedAt;

    private StallCatcher(string dir)
    {
        _dir = dir;
        Directory.CreateDirectory(dir);
        _thread = new Thread(Run) { IsBackground = true, Name = "drill stall catcher" };
    }

    /// <summary>Starts one when the environment asks for it.</summary>
    public static StallCatcher? StartFromEnvironment()
    {
        var dir = Environment.GetEnvironmentVariable("HACLIENT_DRILL_STALL_DUMP");
        if (string.IsNullOrWhiteSpace(dir))
        {
            return null;
        }

        var catcher = new StallCatcher(dir);
        catcher._thread.Start();
        return catcher;
    }

    /// <summary>Stops the thread (bounded wait).</summary>
    public void Stop()
    {
        _stop = true;
        _thread.Join(TimeSpan.FromSeconds(5));
    }

    private void Run()
    {
        var tool = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".dotnet", "tools", "dotnet-stack");
        var dumps = 0;
        long lastDump = 0;
        for (var i = 0; i < 100_000 && !_stop; i++)
        {
            if (Interlocked.Read(ref _queuedAt) == 0)
            {
                Interlocked.Exchange(ref _queuedAt, Stopwatch.GetTimestamp());
                ThreadPool.UnsafeQueueUserWorkItem(static s => Interlocked.Exchange(ref ((StallCatcher)s!)._queuedAt, 0), this);
            }

            Thread.Sleep(20);
            var queued = Interlocked.Read(ref _queuedAt);
            var waitedMs = queued == 0 ? 0 : Stopwatch.GetElapsedTime(queued).TotalMilliseconds;
            var slow = SlowCall?.Invoke();
            var why = waitedMs > 250 ? $"marker waited {waitedMs:0} ms" : slow;
            if (why is not null && dumps < 3 && Stopwatch.GetElapsedTime(lastDump).TotalSeconds > 1 && File.Exists(tool))
            {
                dumps++;
                lastDump = Stopwatch.GetTimestamp();
                var file = Path.Combine(_dir, $"stall-{Environment.ProcessId}-{dumps}.txt");
                File.WriteAllText(file, $"{DateTime.UtcNow:O} {why}; pool threads {ThreadPool.ThreadCount}, pending {ThreadPool.PendingWorkItemCount}, completed {ThreadPool.CompletedWorkItemCount}\n");
                using var p = Process.Start(new ProcessStartInfo("/bin/sh", ["-c", $"'{tool}' report -p {Environment.ProcessId} >> '{file}' 2>&1"]) { UseShellExecute = false });
                p?.WaitForExit(10_000);
                File.AppendAllText(file, $"\n{DateTime.UtcNow:O} after the dump: marker pending {Interlocked.Read(ref _queuedAt) != 0}; pool threads {ThreadPool.ThreadCount}, pending {ThreadPool.PendingWorkItemCount}\n");
            }
        }
    }

    /// <summary>Also dump when this says so (a call in flight past its budget: the partition drills); null: no call is.</summary>
    public Func<string?>? SlowCall { get; set; }
}
