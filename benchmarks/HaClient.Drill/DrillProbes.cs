using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace HaClient.Drill;

/// <summary>How late the drill's own 10 ms timer fires, as the application's code would see it: a continuation queued to
/// the same thread pool the clients use. The longest lateness over the run is the figure.</summary>
public sealed class TimerLateness
{
    private long _maxTicks;

    public double MaxMs => Interlocked.Read(ref _maxTicks) * 1000.0 / Stopwatch.Frequency;

    public async Task RunAsync(CancellationToken stop)
    {
        var period = TimeSpan.FromMilliseconds(10);
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
            long seen;
            while (late > (seen = Interlocked.Read(ref _maxTicks)) && Interlocked.CompareExchange(ref _maxTicks, late, seen) != seen)
            {
            }
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
