using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using HaClient.Failover;
using HaClient.Postgres;
using HaClient.Resilience;
using HaClient.Telemetry;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace HaClient.Postgres.Tests.Unit;

/// <summary>The instruments as an operator reads them: histogram buckets that fit seconds, no failover counted at
/// start-up, and one operation record per engine call. Each test listens only to its own cluster name (tests run in
/// parallel and the instruments are static).</summary>
public class TelemetryTests
{
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void Histograms_in_seconds_advise_buckets_from_1_ms_to_30_s()
    {
        foreach (var histogram in new[] { HaClientTelemetry.FailoverDuration, HaClientTelemetry.OperationDuration })
        {
            var buckets = histogram.Advice?.HistogramBucketBoundaries;
            Assert.NotNull(buckets);
            Assert.Equal(0.001, buckets[0]);
            Assert.Equal(30, buckets[^1]);
            Assert.True(buckets.Zip(buckets.Skip(1)).All(p => p.First < p.Second), $"{histogram.Name}: buckets not ascending");
        }

        // A failover of a plain crash or promotion (tens of ms to 2 s) lands in a bucket at most 50 ms wide.
        var failover = HaClientTelemetry.FailoverDuration.Advice!.HistogramBucketBoundaries!;
        var widths = failover.Zip(failover.Skip(1)).Where(p => p.Second <= 2).Select(p => p.Second - p.First);
        Assert.All(widths, w => Assert.True(w <= 0.05 + 1e-9, $"a bucket below 2 s is {w} s wide"));
    }

    [Fact]
    public void The_first_primary_found_at_start_up_is_no_failover_and_a_new_primary_after_losing_it_is_one()
    {
        using var listener = new Recorder("startup-failover");
        var (monitor, slots) = Monitor("startup-failover");

        // The hosts answer one by one: a replica first, then the primary (this counted as a failover before).
        monitor.Apply(slots[1], State(slots[1], PostgresRole.Replica));
        monitor.Apply(slots[0], State(slots[0], PostgresRole.Primary));
        Assert.Equal(0, listener.Sum("haclient.failovers"));

        monitor.Apply(slots[0], State(slots[0], PostgresRole.Down));
        _time.Advance(TimeSpan.FromMilliseconds(420));
        monitor.Apply(slots[1], State(slots[1], PostgresRole.Primary));
        Assert.Equal(1, listener.Sum("haclient.failovers"));
        Assert.Equal([0.42], listener.Values("haclient.failover.duration").Select(v => Math.Round(v, 3)));

        // The same primary coming back after a loss is no failover either.
        monitor.Apply(slots[1], State(slots[1], PostgresRole.Down));
        monitor.Apply(slots[1], State(slots[1], PostgresRole.Primary));
        Assert.Equal(1, listener.Sum("haclient.failovers"));
    }

    [Fact]
    public void A_registered_store_starts_its_failover_and_error_counters_at_zero()
    {
        using var listener = new Recorder("zero-start");
        var source = new NoEndpoints("zero-start");
        HaClientTelemetry.Register(source);
        HaClientTelemetry.Unregister(source);
        Assert.Equal([0.0], listener.Values("haclient.failovers"));
        Assert.Equal(ErrorKinds.All.Count, listener.Values("haclient.errors").Count(v => v == 0));
    }

    [Fact]
    public void Every_endpoint_reports_each_role_1_for_its_own_and_a_redis_master_is_a_primary()
    {
        using var listener = new Recorder("roles");
        var source = new NoEndpoints("roles", [new("a", "primary", null, default), new("b", "master", null, default), new("c", "down", null, default)]);
        HaClientTelemetry.Register(source);
        try
        {
            listener.Observe();
        }
        finally
        {
            HaClientTelemetry.Unregister(source);
        }

        Assert.Equal(
            ["a=down:0", "a=primary:1", "a=replica:0", "a=unknown:0", "b=down:0", "b=primary:1", "b=replica:0", "b=unknown:0", "c=down:1", "c=primary:0", "c=replica:0", "c=unknown:0"],
            listener.Roles().Order());
    }

    private sealed class NoEndpoints(string name, EndpointSnapshot[]? endpoints = null) : IEndpointStateSource
    {
        public string ClusterName => name;

        public IReadOnlyList<EndpointSnapshot> GetEndpointStates() => endpoints ?? [];
    }

    [Fact]
    public async Task Every_engine_operation_is_counted_once_by_kind_target_role_and_outcome()
    {
        using var listener = new Recorder("engine-ops");
        var topology = new OneNodeTopology();
        var engine = new FailoverEngine<string, int>("engine-ops", "test", topology, e => e is IOException ? FailureKind.EndpointFailure : FailureKind.ServerError,
            TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(50), _time, NullLogger.Instance);

        Assert.Equal(1, await engine.ExecuteReadAsync<int, Call>(0, new Call(() => 1), CancellationToken.None));
        await Assert.ThrowsAsync<InvalidOperationException>(() => engine.ExecuteWriteAsync<int, Call>(new Call(() => throw new InvalidOperationException("constraint")), CancellationToken.None));
        topology.Primary = null;
        var pending = engine.ExecuteWriteAsync<int, Call>(new Call(() => 1), CancellationToken.None);
        for (var i = 0; i < 100 && !pending.IsCompleted; i++)
        {
            await Task.Yield();
            _time.Advance(TimeSpan.FromMilliseconds(50));
        }

        await Assert.ThrowsAsync<NoEligibleEndpointException>(() => pending);

        Assert.Equal(
            ["read/replica/success/test", "write/none/failed/test", "write/primary/server_error/test"],
            listener.Tags("haclient.operations").Order());
        Assert.Equal(3, listener.Values("haclient.operation.duration").Count);
        Assert.InRange(listener.Values("haclient.operation.duration").Max(), 1, 1.1);
    }

    private (TopologyMonitor Monitor, HostSlot[] Slots) Monitor(string cluster)
        => UnstartedMonitor.Create(cluster, new PostgresClusterOptions { ConnectionString = "Host=127.0.0.1:1;Username=u;Password=p" }, _time);

    private PostgresHostState State(HostSlot slot, PostgresRole role) => UnstartedMonitor.State(slot, role, _time);

    /// <summary>Records HaClient's measurements tagged with one cluster name.</summary>
    private sealed class Recorder : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentQueue<(string Instrument, double Value, Dictionary<string, object?> Tags)> _seen = new();

        public Recorder(string cluster)
        {
            _listener.InstrumentPublished = (i, l) =>
            {
                if (i.Meter.Name == HaClientTelemetry.Name)
                {
                    l.EnableMeasurementEvents(i);
                }
            };
            _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Add(cluster, i, v, tags));
            _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Add(cluster, i, v, tags));
            _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Add(cluster, i, v, tags));
            _listener.Start();
        }

        public void Observe() => _listener.RecordObservableInstruments();

        public IEnumerable<string> Roles() => _seen.Where(m => m.Instrument == "haclient.endpoint.role")
            .Select(m => $"{m.Tags["haclient.endpoint"]}={m.Tags["haclient.role"]}:{m.Value}");

        public long Sum(string instrument) => (long)_seen.Where(m => m.Instrument == instrument).Sum(m => m.Value);

        public List<double> Values(string instrument) => _seen.Where(m => m.Instrument == instrument).Select(m => m.Value).ToList();

        public IEnumerable<string> Tags(string instrument) => _seen.Where(m => m.Instrument == instrument)
            .Select(m => $"{m.Tags["haclient.operation"]}/{m.Tags["haclient.target_role"]}/{m.Tags["haclient.outcome"]}/{m.Tags["db.system.name"]}");

        public void Dispose() => _listener.Dispose();

        private void Add(string cluster, Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var d = new Dictionary<string, object?>();
            foreach (var t in tags)
            {
                d[t.Key] = t.Value;
            }

            if (d.TryGetValue("haclient.cluster", out var c) && (string?)c == cluster)
            {
                _seen.Enqueue((instrument.Name, value, d));
            }
        }
    }

    private readonly struct Call(Func<int> work) : IEndpointCall<string, int>
    {
        public ValueTask<int> RunAsync(string endpoint, WriteProgress? progress, OperationDeadline deadline, CancellationToken cancellationToken)
        {
            progress?.MarkSent();
            return ValueTask.FromResult(work());
        }
    }

    /// <summary>A primary "p" (or none) and a replica "r".</summary>
    private sealed class OneNodeTopology : IFailoverTopology<string, int>
    {
        public string? Primary { get; set; } = "p";

        public Task Changed { get; } = new TaskCompletionSource().Task;

        public string? SelectWriter() => Primary;

        public string? SelectReader(int intent, string? exclude) => exclude == "r" ? null : "r";

        public bool IsPrimary(string endpoint) => endpoint == Primary;

        public string NameOf(string endpoint) => endpoint;

        public void RequestProbe()
        {
        }

        public void ReportNotPrimary(string endpoint)
        {
        }

        public void ReportEndpointFailure(string endpoint, Exception failure)
        {
        }

        public bool ProvesNotSent(Exception failure) => false;
    }
}
