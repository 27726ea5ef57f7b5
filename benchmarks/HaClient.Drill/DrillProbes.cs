using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace HaClient.Drill;

/// <summary>How late the drill's own 10 ms timer fires, as the application's code would see it: a continuation queued to
/// the same thread pool the clients use. The longest lateness over the run is the figure; the samples (wall clock, Unix
/// ms) say whether it came with the fault or with the load alone.</summary>
public sealed class TimerLateness
{
    private readonly List<(double AtUnixMs, double LateMs, double GcPauseMs, long Queued, int Threads)> _samples = new();
    private readonly List<(double AtUnixMs, double LateMs)> _osThread = new();
    private readonly List<string> _longGcs = new();
    private long _maxTicks;

    public double MaxMs => Interlocked.Read(ref _maxTicks) * 1000.0 / Stopwatch.Frequency;

    public async Task RunAsync(CancellationToken stop)
    {
        var period = TimeSpan.FromMilliseconds(10);
        var pause = GC.GetTotalPauseDuration();

        // Beside it, a dedicated thread's 10 ms sleep: late with the pool's timer, the whole machine was short of CPU
        // (the lab's servers share its 2 cores); on time, the pool was.
        var osThread = new Thread(() =>
        {
            for (var i = 0; i < 1_000_000 && !stop.IsCancellationRequested; i++)
            {
                var t0 = Stopwatch.GetTimestamp();
                Thread.Sleep(period);
                var late = Stopwatch.GetElapsedTime(t0) - period;
                lock (_osThread)
                {
                    _osThread.Add((Lab.NowUnixMs(), late.TotalMilliseconds));
                }
            }
        }) { IsBackground = true, Name = "drill os timer" };
        osThread.Start();
        for (var i = 0; i < 1_000_000 && !stop.IsCancellationRequested; i++)
        {
            var t0 = Stopwatch.GetTimestamp();
            try
            {
                await Task.Delay(period, stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            var late = Stopwatch.GetTimestamp() - t0 - (long)(period.TotalSeconds * Stopwatch.Frequency);
            var pauseNow = GC.GetTotalPauseDuration();
            lock (_samples)
            {
                // With the GC's pause time in the interval and the pool's queue and threads as it ended: a late tick
                // under a long pause is the GC, one behind a long queue is the work queued ahead of it.
                _samples.Add((Lab.NowUnixMs(), late * 1000.0 / Stopwatch.Frequency, (pauseNow - pause).TotalMilliseconds, ThreadPool.PendingWorkItemCount, ThreadPool.ThreadCount));
            }

            if ((pauseNow - pause).TotalMilliseconds > 20 && _longGcs.Count < 20)
            {
                // A long pause: which collection it was (the drill reports them after the run).
                var gc = GC.GetGCMemoryInfo(GCKind.Any);
                lock (_samples)
                {
                    _longGcs.Add($"gen{gc.Generation} {(gc.Compacted ? "compacting" : "sweeping")}{(gc.Concurrent ? " background" : "")} pause {gc.PauseDurations[0].TotalMilliseconds:0.0}+{gc.PauseDurations[1].TotalMilliseconds:0.0} ms, heap {gc.HeapSizeBytes / 1048576.0:0.0} MB, promoted {gc.PromotedBytes / 1048576.0:0.0} MB, gen0 budget {gc.GenerationInfo[0].SizeAfterBytes / 1048576.0:0.0} MB after");
                }
            }

            pause = pauseNow;

            long seen;
            while (late > (seen = Interlocked.Read(ref _maxTicks)) && Interlocked.CompareExchange(ref _maxTicks, late, seen) != seen)
            {
            }
        }
    }

    private double OsThreadLateMs(double fromUnixMs, double toUnixMs)
    {
        lock (_osThread)
        {
            return _osThread.Where(s => s.AtUnixMs >= fromUnixMs && s.AtUnixMs <= toUnixMs).Select(s => s.LateMs).DefaultIfEmpty(0).Max();
        }
    }

    /// <summary>The figures around a fault at <paramref name="faultAtUnixMs"/>: the longest lateness before it (the load
    /// alone), the longest from it on, when that was (ms after the fault), and the 99th percentile over the run.</summary>
    public void Report(DrillReport report, double faultAtUnixMs)
    {
        lock (_samples)
        {
            report.Extra["timer_lateness_max_ms"] = Math.Round(MaxMs, 1);
            if (_samples.Count == 0)
            {
                return;
            }

            var before = _samples.Where(s => s.AtUnixMs < faultAtUnixMs).Select(s => s.LateMs).DefaultIfEmpty(0).Max();
            (double AtUnixMs, double LateMs, double GcPauseMs, long Queued, int Threads) worst = (faultAtUnixMs, 0, 0, 0, 0);
            foreach (var s in _samples)
            {
                if (s.AtUnixMs >= faultAtUnixMs && s.LateMs > worst.LateMs)
                {
                    worst = s;
                }
            }

            var sorted = _samples.Select(s => s.LateMs).Order().ToArray();
            report.Extra["timer_lateness_before_fault_max_ms"] = Math.Round(before, 1);
            report.Extra["timer_lateness_after_fault_max_ms"] = Math.Round(worst.LateMs, 1);
            report.Extra["timer_lateness_after_fault_max_at_ms"] = Math.Round(worst.AtUnixMs - faultAtUnixMs, 0);
            report.Extra["timer_lateness_after_fault_max_gc_pause_ms"] = Math.Round(worst.GcPauseMs, 1);
            report.Extra["timer_lateness_after_fault_max_pool_queue"] = worst.Queued;
            report.Extra["timer_lateness_after_fault_max_pool_threads"] = worst.Threads;
            foreach (var gc in _longGcs)
            {
                Console.WriteLine($"drill: long GC pause: {gc}");
            }

            foreach (var late in _samples.Where(s => s.LateMs > 50).Take(20))
            {
                Console.WriteLine($"drill: timer {late.LateMs:0.0} ms late at fault {late.AtUnixMs - faultAtUnixMs:+0;-0} ms (unix {late.AtUnixMs:0}; GC pause {late.GcPauseMs:0.0} ms, pool queue {late.Queued}, threads {late.Threads}; a dedicated thread's sleep up to {OsThreadLateMs(late.AtUnixMs - late.LateMs - 20, late.AtUnixMs + 20):0.0} ms late then)");
            }

            report.Extra["timer_lateness_os_thread_max_ms"] = Math.Round(OsThreadLateMs(double.MinValue, double.MaxValue), 1);
            report.Extra["timer_lateness_os_thread_at_pool_max_ms"] = Math.Round(OsThreadLateMs(worst.AtUnixMs - worst.LateMs - 20, worst.AtUnixMs + 20), 1);
            report.Extra["timer_lateness_p99_ms"] = Math.Round(sorted[(int)Math.Min(sorted.Length - 1, Math.Ceiling(sorted.Length * 0.99) - 1)], 1);
        }
    }
}

/// <summary>Counts <c>haclient.breaker.transitions</c> to <c>open</c>, per endpoint.</summary>
public sealed class BreakerWatch : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, int> _opens = new();

    public BreakerWatch()
    {
        _listener.InstrumentPublished = (i, l) =>
        {
            if (i.Meter.Name == "HaClient" && i.Name == "haclient.breaker.transitions")
            {
                l.EnableMeasurementEvents(i);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            string? endpoint = null, state = null;
            foreach (var t in tags)
            {
                if (t.Key == "haclient.endpoint") endpoint = t.Value as string;
                if (t.Key == "haclient.breaker.state") state = t.Value as string;
            }

            if (state == "open" && endpoint is not null)
            {
                _opens.AddOrUpdate(endpoint, 1, (_, n) => n + 1);
            }
        });
        _listener.Start();
    }

    /// <summary>Breaker openings on every endpoint but <paramref name="faulty"/> (the server's host:port; a pooled host's
    /// endpoint reads <c>server via pooler</c>).</summary>
    public int OpensExcept(string faulty) => _opens.Where(kv => kv.Key.Split(' ')[0] != faulty).Sum(kv => kv.Value);

    public void Dispose() => _listener.Dispose();
}

/// <summary>Counts <c>haclient.errors</c> by <c>error.type</c> in this process: how many lost commits the engine
/// resolved, and which way.</summary>
public sealed class ErrorKindCounter : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, long> _counts = new();

    public ErrorKindCounter()
    {
        _listener.InstrumentPublished = (i, l) =>
        {
            if (i.Meter.Name == "HaClient" && i.Name == "haclient.errors")
            {
                l.EnableMeasurementEvents(i);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var t in tags)
            {
                if (t.Key == "error.type" && t.Value is string kind)
                {
                    _counts.AddOrUpdate(kind, value, (_, n) => n + value);
                }
            }
        });
        _listener.Start();
    }

    public long this[string kind] => _counts.TryGetValue(kind, out var n) ? n : 0;

    public void Dispose() => _listener.Dispose();
}

/// <summary>The degraded reads of a drill on the ladder: how many, and the stalest one they reported.</summary>
public sealed class LadderStats
{
    private readonly Lock _gate = new();

    public long Count { get; private set; }

    public double MaxMs { get; private set; }

    public void Record(TimeSpan staleness)
    {
        lock (_gate)
        {
            Count++;
            MaxMs = Math.Max(MaxMs, staleness.TotalMilliseconds);
        }
    }
}
