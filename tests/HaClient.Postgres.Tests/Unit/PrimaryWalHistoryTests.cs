using HaClient.Postgres;
using Xunit;

namespace HaClient.Postgres.Tests.Unit;

public class PrimaryWalHistoryTests
{
    [Fact]
    public void A_replica_is_current_as_of_the_newest_primary_sample_it_has_replayed_past()
    {
        var h = new PrimaryWalHistory();
        h.Add(timestamp: 100, lsn: 1000);
        h.Add(timestamp: 200, lsn: 2000);
        h.Add(timestamp: 300, lsn: 3000);
        Assert.Equal(200, h.CurrentAsOf(2500));
        Assert.Equal(300, h.CurrentAsOf(3000));
        Assert.Equal(0, h.CurrentAsOf(999));
    }

    [Fact]
    public void An_idle_primary_keeps_a_caught_up_replica_current()
    {
        var h = new PrimaryWalHistory();
        h.Add(100, 5000);
        h.Add(200, 5000);
        h.Add(300, 5000);
        Assert.Equal(300, h.CurrentAsOf(5000));
    }

    [Fact]
    public void The_ring_forgets_old_samples_and_clear_forgets_all()
    {
        var h = new PrimaryWalHistory(capacity: 4);
        for (var i = 1; i <= 10; i++)
        {
            h.Add(i * 100, (ulong)i * 1000);
        }

        Assert.Equal(0, h.CurrentAsOf(6000));   // samples 1..6 were overwritten
        Assert.Equal(1000, h.CurrentAsOf(10_000));
        h.Clear();
        Assert.Equal(0, h.CurrentAsOf(10_000));
    }
}
