using HaClient.Postgres;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace HaClient.Postgres.Tests.Unit;

/// <summary>How often the monitor probes each host, on a fake clock (the monitor is not started: no thread, no I/O).</summary>
public class ProbePacingTests
{
    private readonly FakeTimeProvider _time = new();

    private (TopologyMonitor Monitor, HostSlot[] Slots) Monitor()
    {
        var options = new PostgresClusterOptions
        {
            ConnectionString = "Host=127.0.0.1:1;Username=u;Password=p",
            ProbeInterval = TimeSpan.FromSeconds(1),
            FailoverProbeInterval = TimeSpan.FromMilliseconds(25),
        };
        return UnstartedMonitor.Create("t", options, _time);
    }

    private PostgresHostState State(HostSlot slot, PostgresRole role) => UnstartedMonitor.State(slot, role, _time);

    [Fact]
    public void Every_host_is_probed_at_the_failover_interval_while_no_primary_is_known()
    {
        var (m, slots) = Monitor();
        Assert.Equal(TimeSpan.FromMilliseconds(25), m.NextProbeIn(slots[0]));
        Assert.Equal(TimeSpan.FromMilliseconds(25), m.NextProbeIn(slots[1]));
    }

    [Fact]
    public void In_steady_state_the_primary_is_sampled_every_200_ms_and_replicas_every_probe_interval()
    {
        var (m, slots) = Monitor();
        m.Apply(slots[0], State(slots[0], PostgresRole.Primary));
        m.Apply(slots[1], State(slots[1], PostgresRole.Replica));
        Assert.Equal(TimeSpan.FromMilliseconds(200), m.NextProbeIn(slots[0]));
        Assert.Equal(TimeSpan.FromSeconds(1), m.NextProbeIn(slots[1]));
    }

    [Fact]
    public void A_request_that_saw_a_failure_makes_every_host_probed_fast_for_three_probe_intervals()
    {
        var (m, slots) = Monitor();
        m.Apply(slots[0], State(slots[0], PostgresRole.Primary));
        m.Apply(slots[1], State(slots[1], PostgresRole.Replica));
        m.RequestProbe();
        Assert.Equal(TimeSpan.FromMilliseconds(25), m.NextProbeIn(slots[1]));
        _time.Advance(TimeSpan.FromSeconds(2.9));
        Assert.Equal(TimeSpan.FromMilliseconds(25), m.NextProbeIn(slots[1]));
        _time.Advance(TimeSpan.FromMilliseconds(200));
        Assert.Equal(TimeSpan.FromSeconds(1), m.NextProbeIn(slots[1]));
    }

    [Fact]
    public void Losing_the_primary_starts_the_hunt_again()
    {
        var (m, slots) = Monitor();
        m.Apply(slots[0], State(slots[0], PostgresRole.Primary));
        m.Apply(slots[1], State(slots[1], PostgresRole.Replica));
        m.Apply(slots[0], State(slots[0], PostgresRole.Down));
        Assert.Equal(TimeSpan.FromMilliseconds(25), m.NextProbeIn(slots[1]));
    }
}
