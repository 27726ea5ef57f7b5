using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using HaClient.Failover;
using HaClient.Resilience;
using HaClient.Routing;
using HaClient.Telemetry;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace HaClient.Tests.Unit;

/// <summary>The shared pieces of zone- and latency-aware reads: the read choice's comparison, the smoothed response time,
/// and the <c>haclient.zone_local</c> tag the engine puts on read decisions.</summary>
public class ZoneReadTests
{
    [Fact]
    public void Zone_rank_comes_before_the_score_and_a_tie_keeps_the_first()
    {
        Assert.True(ReadChoice.Beats(ReadChoice.LocalRank, long.MaxValue - 1, ReadChoice.RemoteRank, 1));
        Assert.False(ReadChoice.Beats(ReadChoice.RemoteRank, 1, ReadChoice.LocalRank, long.MaxValue - 1));
        Assert.True(ReadChoice.Beats(0, 9, 0, 10));
        Assert.False(ReadChoice.Beats(0, 10, 0, 10));
    }

    [Fact]
    public void The_score_weighs_calls_in_flight_against_response_time_by_fourfold_tiers()
    {
        var ms = TimeSpan.TicksPerMillisecond;
        // One tier (4-16 ms): noise inside it changes nothing; load alone tells the nodes apart.
        Assert.Equal(ReadChoice.Score(1, 5 * ms), ReadChoice.Score(1, 15 * ms));
        Assert.True(ReadChoice.Score(2, 5 * ms) > ReadChoice.Score(1, 15 * ms));

        // A tier slower weighs as four times the calls; a browned-out node (tens of ms) loses to a busy fast one.
        Assert.Equal(ReadChoice.Score(0, 20 * ms), ReadChoice.Score(3, 5 * ms));
        Assert.True(ReadChoice.Score(0, 40 * ms) > ReadChoice.Score(9, ms));

        // Below 4 ms (and unmeasured) nodes are equally fast.
        Assert.Equal(ReadChoice.Score(0, 0), ReadChoice.Score(0, 3 * ms));
        Assert.True(ReadChoice.Score(1, 10) > ReadChoice.Score(0, 2000));
        Assert.Equal(ReadChoice.Score(-1, 0), ReadChoice.Score(0, 0));
        Assert.Equal(0, ReadChoice.Tier(3 * ms));
        Assert.Equal(1, ReadChoice.Tier(5 * ms));
        Assert.Equal(2, ReadChoice.Tier(20 * ms));
    }

    [Fact]
    public void The_response_time_starts_at_its_first_sample_moves_a_quarter_of_the_way_and_resets()
    {
        long average = 0;
        Assert.Null(ResponseTime.Read(ref average));
        ResponseTime.Record(ref average, TimeSpan.FromMilliseconds(2));
        Assert.Equal(TimeSpan.FromMilliseconds(2), ResponseTime.Read(ref average));
        ResponseTime.Record(ref average, TimeSpan.FromMilliseconds(6));
        Assert.Equal(TimeSpan.FromMilliseconds(3), ResponseTime.Read(ref average));

        // A node that turns slow is seen within a few samples...
        for (var i = 0; i < 8; i++)
        {
            ResponseTime.Record(ref average, TimeSpan.FromMilliseconds(40));
        }

        Assert.InRange(ResponseTime.Read(ref average)!.Value.TotalMilliseconds, 25, 40);
        Assert.Equal(2, ReadChoice.Tier(average));

        // ...while one outlier does not lift a fast node into a slower tier, nor a slow first sample (a new connection's).
        long fresh = 0;
        ResponseTime.Record(ref fresh, TimeSpan.FromMilliseconds(30));
        Assert.Equal(0, ReadChoice.Tier(fresh));
        ResponseTime.Reset(ref average, TimeSpan.FromMilliseconds(1));
        ResponseTime.Record(ref average, TimeSpan.FromMilliseconds(25));
        Assert.Equal(0, ReadChoice.Tier(average));
        ResponseTime.Reset(ref average, TimeSpan.FromMilliseconds(1));
        Assert.Equal(TimeSpan.FromMilliseconds(1), ResponseTime.Read(ref average));
        ResponseTime.Record(ref average, TimeSpan.Zero);
        Assert.True(average >= 1);
    }

    [Fact]
    public async Task Reads_of_a_store_with_a_local_zone_are_tagged_zone_local_and_writes_are_not()
    {
        var time = new FakeTimeProvider();
        var (primary, local, remote) = (new Node("p"), new Node("l"), new Node("r"));
        var topology = new FakeTopology { Writer = primary, Readers = [local, remote], Local = n => n != remote };
        var cluster = "zone-tag";
        var seen = new ConcurrentQueue<string>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (i, l) =>
        {
            if (i.Meter.Name == HaClientTelemetry.Name && i.Name == "haclient.routing.decisions")
            {
                l.EnableMeasurementEvents(i);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            var d = new Dictionary<string, object?>();
            foreach (var t in tags)
            {
                d[t.Key] = t.Value;
            }

            if ((string?)d["haclient.cluster"] == cluster)
            {
                seen.Enqueue($"{d["haclient.target_role"]}/{(d.TryGetValue("haclient.zone_local", out var z) ? z : "-")}");
            }
        });
        listener.Start();
        var engine = new FailoverEngine<Node, string>(cluster, "test", topology, _ => FailureKind.EndpointFailure, TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(50), time, NullLogger.Instance);
        var call = new NameCall();

        Assert.Equal("l", await engine.ExecuteReadAsync<string, NameCall>("any", call, CancellationToken.None));
        topology.Readers = [remote];
        Assert.Equal("r", await engine.ExecuteReadAsync<string, NameCall>("any", call, CancellationToken.None));
        Assert.Equal("p", await engine.ExecuteWriteAsync<string, NameCall>(call, CancellationToken.None));
        topology.Local = static _ => null;
        Assert.Equal("r", await engine.ExecuteReadAsync<string, NameCall>("any", call, CancellationToken.None));

        Assert.Equal(["replica/True", "replica/False", "primary/-", "replica/-"], seen);
    }

    private readonly struct NameCall : IEndpointCall<Node, string>
    {
        public ValueTask<string> RunAsync(Node endpoint, WriteProgress? progress, OperationDeadline deadline, CancellationToken cancellationToken)
        {
            progress?.MarkSent();
            return ValueTask.FromResult(endpoint.Name);
        }
    }
}
