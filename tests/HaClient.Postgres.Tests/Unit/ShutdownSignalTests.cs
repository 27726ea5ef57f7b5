using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Xunit;

namespace HaClient.Postgres.Tests.Unit;

/// <summary>A request that meets the primary shutting down holds new writes from it until the next probe says what it
/// is (the drain of a planned switchover); any other failure only asks for a probe.</summary>
public class ShutdownSignalTests
{
    private readonly FakeTimeProvider _time = new();

    private (PostgresFailoverTopology Topology, TopologyMonitor Monitor, HostSlot[] Slots) Create()
    {
        var options = new PostgresClusterOptions { ConnectionString = "Host=127.0.0.1:1;Username=u;Password=p" };
        var (monitor, slots) = UnstartedMonitor.Create("t", options, _time);
        monitor.Apply(slots[0], UnstartedMonitor.State(slots[0], PostgresRole.Primary, _time));
        monitor.Apply(slots[1], UnstartedMonitor.State(slots[1], PostgresRole.Replica, _time));
        return (new PostgresFailoverTopology(slots, monitor, options, _time), monitor, slots);
    }

    [Theory]
    [InlineData("57P01")]
    [InlineData("57P02")]
    [InlineData("57P03")]
    public void A_shutdown_seen_by_a_request_holds_writes_from_the_primary_until_its_next_probe(string sqlState)
    {
        var (topology, monitor, slots) = Create();
        Assert.Same(slots[0], topology.SelectWriter());
        topology.ReportEndpointFailure(slots[0], new PostgresException("terminating connection due to administrator command", "FATAL", "FATAL", sqlState));
        Assert.Null(topology.SelectWriter());
        Assert.Equal(PostgresRole.Unknown, monitor.Topology.Hosts[0].Role);

        // A false alarm (one session terminated): the next probe finds it primary again.
        monitor.Apply(slots[0], UnstartedMonitor.State(slots[0], PostgresRole.Primary, _time));
        Assert.Same(slots[0], topology.SelectWriter());
    }

    [Fact]
    public void Other_failures_leave_the_primary_to_the_probe()
    {
        var (topology, _, slots) = Create();
        topology.ReportEndpointFailure(slots[0], new NpgsqlException("connection reset", new IOException()));
        topology.ReportEndpointFailure(slots[0], new PostgresException("canceling statement due to user request", "ERROR", "ERROR", "57014"));
        Assert.Same(slots[0], topology.SelectWriter());
    }

    [Fact]
    public void A_shutdown_reported_for_a_replica_changes_nothing_but_asks_for_a_probe()
    {
        var (topology, monitor, slots) = Create();
        topology.ReportEndpointFailure(slots[1], new PostgresException("the database system is shutting down", "FATAL", "FATAL", "57P03"));
        Assert.Equal(PostgresRole.Replica, monitor.Topology.Hosts[1].Role);
        Assert.Same(slots[0], topology.SelectWriter());
    }
}
