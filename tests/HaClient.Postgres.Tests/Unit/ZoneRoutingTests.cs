using HaClient.Routing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace HaClient.Postgres.Tests.Unit;

/// <summary>Zone order and latency weighting of reads, through the real settings path (validator, slots, monitor,
/// topology) over hosts that are never contacted: the monitor is fed probe results by hand, time is a
/// <see cref="FakeTimeProvider"/>.</summary>
public sealed class ZoneRoutingTests : IDisposable
{
    private const string Primary = "127.0.0.1:1000";
    private const string LocalReplica = "127.0.0.1:1001";
    private const string RemoteReplica = "127.0.0.1:1002";

    private readonly FakeTimeProvider _time = new();
    private readonly List<HostSlot[]> _created = [];

    /// <summary>n0 primary, n1 and n2 replicas; zone a = <paramref name="zoneA"/>, zone b = the rest.</summary>
    private (PostgresFailoverTopology Topology, TopologyMonitor Monitor, HostSlot[] Slots) Create(Action<PostgresClusterOptions>? configure = null, string[]? zoneA = null)
    {
        var options = new PostgresClusterOptions
        {
            ConnectionString = "Username=u;Password=p;Database=d",
            Hosts = [Primary, LocalReplica, RemoteReplica],
        };
        zoneA ??= [Primary, LocalReplica];
        options.Zones["a"] = zoneA.ToList();
        options.Zones["b"] = options.Hosts.Except(zoneA).ToList();
        options.LocalZone = "a";
        configure?.Invoke(options);
        var errors = new List<string>();
        var settings = PostgresClusterOptionsValidator.Resolve(options, errors);
        Assert.True(settings is not null, string.Join("; ", errors));
        var slots = HostSlots.Create("zones", settings, options, NullLoggerFactory.Instance, _time);
        _created.Add(slots);
        var monitor = new TopologyMonitor("zones", slots, options, NullLogger.Instance, _time);
        Up(monitor, slots[0], PostgresRole.Primary);
        Up(monitor, slots[1], PostgresRole.Replica);
        Up(monitor, slots[2], PostgresRole.Replica);
        return (new PostgresFailoverTopology(slots, monitor, options, _time), monitor, slots);
    }

    private void Up(TopologyMonitor monitor, HostSlot slot, PostgresRole role) => monitor.Apply(slot, UnstartedMonitor.State(slot, role, _time));

    private static string? Read(PostgresFailoverTopology topology, ReadConsistency? consistency = null) => topology.SelectReader(consistency ?? ReadConsistency.WithinLagBound, null)?.Name;

    [Fact]
    public void Reads_go_to_the_local_replica_even_when_the_remote_one_is_less_busy_and_faster()
    {
        var (topology, _, slots) = Create();
        slots[1].InFlight = 10;
        slots[1].ResponseTicks = TimeSpan.FromMilliseconds(5).Ticks;
        slots[2].ResponseTicks = TimeSpan.FromMilliseconds(1).Ticks;
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(LocalReplica, Read(topology));
        }

        Assert.Equal(["a", "a", "b"], slots.Select(s => s.State.Zone));
        Assert.Equal([true, true, false], slots.Select(s => topology.IsInLocalZone(s)));
    }

    [Fact]
    public void The_default_policy_spills_over_to_the_other_zone_then_the_primary_and_returns()
    {
        // ZonePolicy left out: PreferLocal, as documented.
        var (topology, monitor, slots) = Create();
        Assert.Equal(ZonePolicy.PreferLocal, new PostgresClusterOptions().ZonePolicy);

        Up(monitor, slots[1], PostgresRole.Down);
        Assert.Equal(RemoteReplica, Read(topology));

        Up(monitor, slots[2], PostgresRole.Down);
        Assert.Equal(Primary, Read(topology));

        Up(monitor, slots[1], PostgresRole.Replica);
        Assert.Equal(LocalReplica, Read(topology));
    }

    [Fact]
    public void Local_only_never_leaves_the_zone_and_uses_the_primary_only_when_it_is_local()
    {
        var (topology, monitor, slots) = Create(o => o.ZonePolicy = ZonePolicy.LocalOnly);
        Assert.Equal(LocalReplica, Read(topology));
        Up(monitor, slots[1], PostgresRole.Down);
        Assert.Equal(Primary, Read(topology));

        // The primary in the other zone: a bounded read with no local replica has no eligible endpoint.
        var (remotePrimary, monitor2, slots2) = Create(o => o.ZonePolicy = ZonePolicy.LocalOnly, zoneA: [LocalReplica]);
        Assert.Equal(LocalReplica, Read(remotePrimary));
        Up(monitor2, slots2[1], PostgresRole.Down);
        Assert.Null(Read(remotePrimary));

        // Reads that need the primary's history still may use it wherever it is.
        Assert.Equal(Primary, Read(remotePrimary, ReadConsistency.Primary));
        Assert.Equal(Primary, Read(remotePrimary, ReadConsistency.AtLeast(new ConsistencyToken(0x1000))));
    }

    [Fact]
    public void Without_a_local_zone_reads_are_not_tagged_and_every_replica_ranks_alike()
    {
        var (topology, _, slots) = Create(o => o.LocalZone = null);
        Assert.All(slots, s => Assert.Null(topology.IsInLocalZone(s)));
        Assert.Equal("b", slots[2].State.Zone);
        slots[1].InFlight = 3;
        Assert.Equal(RemoteReplica, Read(topology));
    }

    [Fact]
    public void Leaving_zones_out_keeps_the_least_busy_choice_and_shows_no_zone()
    {
        var (topology, _, slots) = Create(o =>
        {
            o.Zones.Clear();
            o.LocalZone = null;
        });
        Assert.All(slots, s => Assert.Null(s.State.Zone));
        Assert.All(slots, s => Assert.Null(topology.IsInLocalZone(s)));
        slots[2].InFlight = 1;
        Assert.Equal(LocalReplica, Read(topology));
        slots[1].InFlight = 2;
        Assert.Equal(RemoteReplica, Read(topology));
    }

    [Fact]
    public void A_slow_replica_gets_far_fewer_reads_than_a_fast_one_in_the_same_zone()
    {
        // Both replicas in the local zone. Reads arrive 4 per ms and hold their host for its service time (1 ms on n1, 20 ms
        // on n2, a brownout); each completed read feeds its duration into the host's response time, as real calls do.
        var (topology, _, slots) = Create(zoneA: [Primary, LocalReplica, RemoteReplica]);
        var service = new Dictionary<HostSlot, TimeSpan> { [slots[1]] = TimeSpan.FromMilliseconds(1), [slots[2]] = TimeSpan.FromMilliseconds(20) };
        var running = new List<(HostSlot Slot, long Started, DateTimeOffset Ends)>();
        var picks = new Dictionary<string, int> { [LocalReplica] = 0, [RemoteReplica] = 0 };
        for (var ms = 0; ms < 2000; ms++)
        {
            foreach (var done in running.Where(r => r.Ends <= _time.GetUtcNow()).ToList())
            {
                running.Remove(done);
                Interlocked.Decrement(ref done.Slot.InFlight);
                ResponseTime.Record(ref done.Slot.ResponseTicks, _time.GetElapsedTime(done.Started));
            }

            for (var k = 0; k < 4; k++)
            {
                var slot = topology.SelectReader(ReadConsistency.WithinLagBound, null)!;
                picks[slot.Name]++;
                Interlocked.Increment(ref slot.InFlight);
                running.Add((slot, _time.GetTimestamp(), _time.GetUtcNow() + service[slot]));
            }

            _time.Advance(TimeSpan.FromMilliseconds(1));
        }

        var slowShare = (double)picks[RemoteReplica] / (picks[LocalReplica] + picks[RemoteReplica]);
        Assert.True(slowShare < 0.2, $"the slow replica got {slowShare:P1} of the reads ({picks[RemoteReplica]} of {picks.Values.Sum()})");
        Assert.True(picks[RemoteReplica] > 0, "the slow replica still serves some reads (it stays measured)");

        // Once it answers as fast again (its probes and reads say so), it shares the reads again.
        for (var i = 0; i < 20; i++)
        {
            ResponseTime.Record(ref slots[2].ResponseTicks, TimeSpan.FromMilliseconds(1));
        }

        slots[1].InFlight = 1;
        Assert.Equal(RemoteReplica, Read(topology));
    }

    public void Dispose()
    {
        foreach (var slot in _created.SelectMany(s => s))
        {
            slot.Pool.Dispose();
            slot.ProbeSource.Dispose();
        }
    }
}
