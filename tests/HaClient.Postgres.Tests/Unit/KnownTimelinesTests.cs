using HaClient.Postgres;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace HaClient.Postgres.Tests.Unit;

/// <summary>
/// The timeline a replica with no running WAL receiver is judged by, through the monitor and the router (the monitor is
/// fed probe results by hand on a fake clock). The scenario is the net soak's defect #50: host 0 was primary on
/// timeline 1, froze, host 1 was promoted (timeline 2), and host 0 thawed as a standby that cannot stream (it holds WAL
/// past the fork) and shows timeline 0.
/// </summary>
public class KnownTimelinesTests
{
    private readonly FakeTimeProvider _time = new();

    private (TopologyMonitor Monitor, HostSlot[] Slots) Monitor() => UnstartedMonitor.Create("t", new PostgresClusterOptions
    {
        ConnectionString = "Host=127.0.0.1:1;Username=u;Password=p",
    }, _time);

    private PostgresHostState Probe(HostSlot slot, PostgresRole role, int timeline, ulong lsn, double? lag = null)
        => new(slot.Endpoint, role, timeline, lsn, lag, _time.GetTimestamp(), _time.GetUtcNow(), TimeSpan.Zero, null);

    private int BoundedRead(TopologyMonitor monitor, HostSlot[] slots)
        => Router.SelectReader(slots, monitor.PrimaryIndex, ReadConsistency.WithinLagBound, new ReplicaLagPolicy(), fallbackToPrimary: true, _time.GetTimestamp(), _time.TimestampFrequency, exclude: -1, rotation: 0);

    /// <summary>Host 0 primary on timeline 1 with host 1 streaming, then host 1 promoted at 0x1000 and writing on.</summary>
    private (TopologyMonitor Monitor, HostSlot[] Slots) FailedOver(bool receiversVisible = true)
    {
        var (m, slots) = Monitor();
        m.Apply(slots[0], Probe(slots[0], PostgresRole.Primary, 1, 0x1000));
        m.Apply(slots[1], Probe(slots[1], PostgresRole.Replica, receiversVisible ? 1 : 0, 0x1000, 0));
        m.Apply(slots[0], Probe(slots[0], PostgresRole.Down, 1, 0x1000));
        m.Apply(slots[1], Probe(slots[1], PostgresRole.Primary, 2, 0x1000));
        _time.Advance(TimeSpan.FromMilliseconds(300));
        m.Apply(slots[1], Probe(slots[1], PostgresRole.Primary, 2, 0x2000));
        Assert.Equal(1, m.PrimaryIndex);
        return (m, slots);
    }

    [Fact]
    public void A_thawed_old_primary_that_cannot_stream_keeps_its_old_timeline_and_serves_no_bounded_read()
    {
        var (m, slots) = FailedOver();

        // At 0x1800 on timeline 1: compared with the new primary's history it looks 300 ms behind, within the 5 s bound.
        m.Apply(slots[0], Probe(slots[0], PostgresRole.Replica, 0, 0x1800, 0.3));

        Assert.Equal(1, m.Topology.Hosts[0].Timeline);
        Assert.Equal(1, BoundedRead(m, slots)); // the primary, not the old timeline's host
    }

    [Fact]
    public void Once_it_streams_on_the_new_timeline_it_serves_bounded_reads_and_keeps_doing_so_while_it_reconnects()
    {
        var (m, slots) = FailedOver();
        m.Apply(slots[0], Probe(slots[0], PostgresRole.Replica, 0, 0x1800, 0.3));
        m.Apply(slots[0], Probe(slots[0], PostgresRole.Replica, 2, 0x2000, 0));
        Assert.Equal(0, BoundedRead(m, slots));

        // Its receiver drops (the primary restarts): it was last seen streaming on the primary's timeline.
        m.Apply(slots[0], Probe(slots[0], PostgresRole.Replica, 0, 0x2000, 0.1));
        Assert.Equal(2, m.Topology.Hosts[0].Timeline);
        Assert.Equal(0, BoundedRead(m, slots));
    }

    [Fact]
    public void Where_no_receiver_is_ever_visible_nothing_is_carried_over()
    {
        // A probing role without pg_read_all_stats: every replica shows 0, so a host once primary would otherwise stay
        // on its old timeline for good; the other bounds alone apply, as before.
        var (m, slots) = FailedOver(receiversVisible: false);
        m.Apply(slots[0], Probe(slots[0], PostgresRole.Replica, 0, 0x2000, 0));
        Assert.Equal(0, m.Topology.Hosts[0].Timeline);
        Assert.Equal(0, BoundedRead(m, slots));
    }
}
