using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using HaClient.Telemetry;

namespace HaClient.Sample;

/// <summary>
/// What the topology page shows besides the live view: the role changes and failovers of the last hour (with the
/// failover's duration) and each replica's lag over the last minutes. It listens to HaClient's own instruments
/// (<c>haclient.role_changes</c>, <c>haclient.failover.duration</c>, <c>haclient.replica.lag</c>), the same figures
/// Prometheus scrapes, so the page and the dashboard cannot disagree.
/// </summary>
internal sealed class TopologyHistory : IHostedService, IDisposable
{
    private const int MaxEvents = 200;
    private static readonly TimeSpan LagWindow = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan SampleEvery = TimeSpan.FromSeconds(1);

    private readonly TimeProvider _time;
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<HistoryEvent> _events = new();
    private readonly ConcurrentQueue<LagSample> _lag = new();

    /// <summary>The last endpoint each cluster saw become primary (or master): the failover that follows names it.</summary>
    private readonly ConcurrentDictionary<string, string> _lastPrimary = new();
    private ITimer? _sampler;

    public TopologyHistory(TimeProvider timeProvider)
    {
        _time = timeProvider;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == HaClientTelemetry.Name && instrument.Name is "haclient.role_changes" or "haclient.failover.duration" or "haclient.replica.lag")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, _, tags, _) => OnRoleChange(tags));
        _listener.SetMeasurementEventCallback<double>((i, value, tags, _) =>
        {
            if (i.Name == "haclient.failover.duration")
            {
                OnFailover(value, tags);
            }
            else
            {
                OnLag(value, tags);
            }
        });

        // Started here, not in StartAsync: the clusters start (and find their first roles) before this service does.
        _listener.Start();
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _sampler = _time.CreateTimer(_ => Sample(), null, TimeSpan.Zero, SampleEvery);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _sampler?.Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _sampler?.Dispose();
        _listener.Dispose();
    }

    /// <summary>The page's JSON: events newest first; lag points as [seconds before now, lag seconds] per replica.</summary>
    public object Snapshot()
    {
        var now = _time.GetUtcNow();
        var lag = _lag.ToArray()
            .GroupBy(s => (s.Cluster, s.Endpoint))
            .Select(g => new
            {
                cluster = g.Key.Cluster,
                endpoint = g.Key.Endpoint,
                points = g.Select(s => new[] { Math.Round((now - s.At).TotalSeconds, 1), Math.Round(s.LagSeconds, 3) }).ToArray(),
            })
            .OrderBy(s => s.cluster).ThenBy(s => s.endpoint);
        return new
        {
            now,
            windowSeconds = LagWindow.TotalSeconds,
            events = _events.Reverse(),
            lag,
        };
    }

    private void Sample()
    {
        _listener.RecordObservableInstruments();
        var cutoff = _time.GetUtcNow() - LagWindow;
        while (_lag.TryPeek(out var oldest) && oldest.At < cutoff)
        {
            _lag.TryDequeue(out _);
        }
    }

    private void OnRoleChange(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var (cluster, endpoint, role) = (Tag(tags, "haclient.cluster"), Tag(tags, "haclient.endpoint"), Tag(tags, "haclient.role"));
        if (role is "primary" or "master")
        {
            _lastPrimary[cluster] = endpoint;
        }

        Add(new HistoryEvent(_time.GetUtcNow(), cluster, "role", endpoint, role, null));
    }

    private void OnFailover(double seconds, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var cluster = Tag(tags, "haclient.cluster");
        Add(new HistoryEvent(_time.GetUtcNow(), cluster, "failover", _lastPrimary.GetValueOrDefault(cluster, ""), "primary", Math.Round(seconds * 1000, 1)));
    }

    private void OnLag(double seconds, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        => _lag.Enqueue(new LagSample(_time.GetUtcNow(), Tag(tags, "haclient.cluster"), Tag(tags, "haclient.endpoint"), seconds));

    private void Add(HistoryEvent e)
    {
        _events.Enqueue(e);
        while (_events.Count > MaxEvents && _events.TryDequeue(out _))
        {
        }
    }

    private static string Tag(ReadOnlySpan<KeyValuePair<string, object?>> tags, string key)
    {
        foreach (var t in tags)
        {
            if (t.Key == key)
            {
                return t.Value as string ?? "";
            }
        }

        return "";
    }

    /// <summary>A role change (<c>kind</c> "role") or a failover ("failover", with its duration), as the page shows it.</summary>
    private sealed record HistoryEvent(DateTimeOffset At, string Cluster, string Kind, string Endpoint, string Role, double? DurationMs);

    private readonly record struct LagSample(DateTimeOffset At, string Cluster, string Endpoint, double LagSeconds);
}
