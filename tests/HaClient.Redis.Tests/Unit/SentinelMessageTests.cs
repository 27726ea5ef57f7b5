namespace HaClient.Redis.Tests.Unit;

/// <summary>Parsing of the Sentinel pub/sub messages the monitor follows.</summary>
public class SentinelMessageTests
{
    [Fact]
    public void Switch_master_names_old_and_new_for_the_service_only()
    {
        Assert.True(SentinelDiscovery.TryParseSwitchMaster("haclient 127.0.0.1 16379 127.0.0.1 16380", "haclient", out var old, out var @new));
        Assert.Equal(new HostEndpoint("127.0.0.1", 16379), old);
        Assert.Equal(new HostEndpoint("127.0.0.1", 16380), @new);
        Assert.False(SentinelDiscovery.TryParseSwitchMaster("other 127.0.0.1 16379 127.0.0.1 16380", "haclient", out _, out _));
        Assert.False(SentinelDiscovery.TryParseSwitchMaster("haclient 127.0.0.1 16379 127.0.0.1", "haclient", out _, out _));
        Assert.False(SentinelDiscovery.TryParseSwitchMaster("haclient 127.0.0.1 x 127.0.0.1 16380", "haclient", out _, out _));
        Assert.False(SentinelDiscovery.TryParseSwitchMaster("haclient 127.0.0.1 16379 127.0.0.1 99999", "haclient", out _, out _));
    }

    [Fact]
    public void Selected_slave_names_the_replica_and_the_primary_it_replaces()
    {
        Assert.True(SentinelDiscovery.TryParseSelectedReplica("slave 127.0.0.1:16381 127.0.0.1 16381 @ haclient 127.0.0.1 16379", "haclient", out var replica, out var from));
        Assert.Equal(new HostEndpoint("127.0.0.1", 16381), replica);
        Assert.Equal(new HostEndpoint("127.0.0.1", 16379), from);
        Assert.False(SentinelDiscovery.TryParseSelectedReplica("slave 127.0.0.1:16381 127.0.0.1 16381 @ other 127.0.0.1 16379", "haclient", out _, out _));
        Assert.False(SentinelDiscovery.TryParseSelectedReplica("sentinel 127.0.0.1:16381 127.0.0.1 16381 @ haclient 127.0.0.1 16379", "haclient", out _, out _));
        Assert.False(SentinelDiscovery.TryParseSelectedReplica("", "haclient", out _, out _));
    }

    [Fact]
    public void Votes_report_the_most_named_first()
    {
        var votes = States.Votes((0, 1), (2, 2));
        Assert.Equal(States.Ep(2), votes.Top);
        Assert.True(votes.Names(States.Ep(0)));
        Assert.False(votes.Names(States.Ep(1)));
        Assert.Null(SentinelVotes.Silent.Top);
    }
}
