using System.Diagnostics;
using HaClient.Postgres;
using HaClient.Resilience;
using Npgsql;
using Xunit;

namespace HaClient.Postgres.Tests.Unit;

/// <summary>The routing decision over hand-made host states (no server: this is pure logic).</summary>
public class RouterTests
{
    private static readonly ReplicaLagPolicy Lag = new() { MaxLagTime = TimeSpan.FromSeconds(1), MaxLagBytes = 1000 };

    private static HostSlot[] Slots(params (PostgresRole Role, int Timeline, ulong Lsn, double? Lag)[] states)
    {
        var now = Stopwatch.GetTimestamp();
        return states.Select((s, i) =>
        {
            var ep = new HostEndpoint("127.0.0.1", 1000 + i);
            var slot = new HostSlot(i, ep, NpgsqlDataSource.Create($"Host=127.0.0.1;Port={1000 + i}"), NpgsqlDataSource.Create($"Host=127.0.0.1;Port={1000 + i}"), new EndpointCircuit("t", ep.ToString(), new EndpointResilienceOptions(), _ => FailureKind.EndpointFailure, TimeProvider.System));
            slot.State = State(ep, s.Role, s.Timeline, s.Lsn, s.Lag, now);
            return slot;
        }).ToArray();
    }

    /// <summary>A probe result; a replica lagging <paramref name="lag"/> seconds holds every write acknowledged as of
    /// that long before the probe.</summary>
    private static PostgresHostState State(HostEndpoint ep, PostgresRole role, int timeline, ulong lsn, double? lag, long probedAt)
    {
        var state = new PostgresHostState(ep, role, timeline, lsn, lag, probedAt, default, TimeSpan.Zero, null);
        if (role == PostgresRole.Replica && lag is { } l)
        {
            state.CurrentAsOfTimestamp = probedAt - (long)(l * Stopwatch.Frequency);
        }

        return state;
    }

    private static int Read(HostSlot[] slots, ReadConsistency c, bool fallback = true, int exclude = -1)
        => Router.SelectReader(slots, 0, c, Lag, fallback, Stopwatch.GetTimestamp(), Stopwatch.Frequency, exclude, 0);

    [Fact]
    public void Writes_go_only_to_a_primary()
    {
        var slots = Slots((PostgresRole.Primary, 1, 5000, null), (PostgresRole.Replica, 1, 5000, 0));
        Assert.Equal(0, Router.SelectPrimary(slots, 0));
        Assert.Equal(-1, Router.SelectPrimary(slots, -1));
        slots[0].State = new PostgresHostState(slots[0].Endpoint, PostgresRole.Replica, 1, 5000, 0, Stopwatch.GetTimestamp(), default, TimeSpan.Zero, null);
        Assert.Equal(-1, Router.SelectPrimary(slots, 0));
    }

    [Fact]
    public void Replicas_whose_response_times_differ_only_by_noise_take_turns_with_sequential_reads()
    {
        // 0.3 ms against 0.7 ms on a loopback probe is noise: with nothing in flight both must serve reads in turn (an
        // exact comparison sent every sequential read to the luckier one, which the lab's spread tests caught on CI).
        var slots = Slots((PostgresRole.Primary, 1, 5000, null), (PostgresRole.Replica, 1, 5000, 0), (PostgresRole.Replica, 1, 5000, 0));
        slots[1].ResponseTicks = TimeSpan.FromMilliseconds(0.3).Ticks;
        slots[2].ResponseTicks = TimeSpan.FromMilliseconds(0.7).Ticks;
        var chosen = Enumerable.Range(0, 6).Select(r => Router.SelectReader(slots, 0, ReadConsistency.WithinLagBound, Lag, true, Stopwatch.GetTimestamp(), Stopwatch.Frequency, -1, r)).ToHashSet();
        Assert.Equal([1, 2], chosen.Order());

        // A replica several times slower is not chosen while the fast one is as busy.
        slots[2].ResponseTicks = TimeSpan.FromMilliseconds(20).Ticks;
        Assert.All(Enumerable.Range(0, 6), r => Assert.Equal(1, Router.SelectReader(slots, 0, ReadConsistency.WithinLagBound, Lag, true, Stopwatch.GetTimestamp(), Stopwatch.Frequency, -1, r)));
    }

    [Fact]
    public void The_ladder_steps_down_to_a_replica_within_its_staleness_only_when_no_fresh_node_and_no_primary_can_serve()
    {
        // The primary is down (index -1) and both replicas have aged out of the 1 s bound: 5 s and 40 s behind.
        var slots = Slots((PostgresRole.Down, 1, 5000, null), (PostgresRole.Replica, 1, 5000, 5), (PostgresRole.Replica, 1, 5000, 40));
        int Pick(ReadConsistency c, int primary = -1) => Router.SelectReader(slots, primary, c, Lag, true, Stopwatch.GetTimestamp(), Stopwatch.Frequency, -1, 0);
        Assert.Equal(-1, Pick(ReadConsistency.WithinLagBound));
        Assert.Equal(1, Pick(ReadConsistency.WithinLagBound.OrStale(TimeSpan.FromSeconds(30))));
        Assert.Equal(-1, Pick(ReadConsistency.WithinLagBound.OrStale(TimeSpan.FromSeconds(3)))); // both staler than allowed

        // With a primary to fall back to, the primary serves (fresh) before any stale step.
        slots[0].State = new PostgresHostState(slots[0].Endpoint, PostgresRole.Primary, 1, 5000, null, Stopwatch.GetTimestamp(), default, TimeSpan.Zero, null);
        Assert.Equal(0, Pick(ReadConsistency.WithinLagBound.OrStale(TimeSpan.FromSeconds(30)), primary: 0));

        Assert.Throws<InvalidOperationException>(() => ReadConsistency.Primary.OrStale(TimeSpan.FromSeconds(1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => ReadConsistency.WithinLagBound.OrStale(TimeSpan.Zero));
        Assert.Equal(TimeSpan.Zero, ReadConsistency.WithinLagBound.MaxStaleness); // off unless asked for
    }

    [Fact]
    public void Reads_prefer_the_least_busy_replica_within_bound()
    {
        var slots = Slots((PostgresRole.Primary, 1, 5000, null), (PostgresRole.Replica, 1, 5000, 0), (PostgresRole.Replica, 1, 5000, 0));
        slots[1].InFlight = 3;
        Assert.Equal(2, Read(slots, ReadConsistency.WithinLagBound));
        slots[2].InFlight = 5;
        Assert.Equal(1, Read(slots, ReadConsistency.WithinLagBound));
    }

    [Fact]
    public void Lagging_replicas_are_skipped_by_time_and_by_bytes()
    {
        var slots = Slots((PostgresRole.Primary, 1, 100_000, null), (PostgresRole.Replica, 1, 100_000, 2.5), (PostgresRole.Replica, 1, 1_000, 0));
        Assert.Equal(0, Read(slots, ReadConsistency.WithinLagBound));
        Assert.Equal(-1, Read(slots, ReadConsistency.WithinLagBound, fallback: false));
    }

    [Fact]
    public void A_replica_still_on_the_old_timeline_serves_no_bounded_read_after_a_promotion()
    {
        // n3 still follows the frozen old primary (timeline 1) while n2 was promoted (timeline 2): its LSN can look
        // current against the new primary's samples, yet it lacks every write the new primary acknowledged. Failed on
        // the old code (a stale read in the plain-hang drill).
        var slots = Slots((PostgresRole.Down, 1, 900, null), (PostgresRole.Primary, 2, 950, null), (PostgresRole.Replica, 1, 960, 0));
        Assert.Equal(1, Router.SelectReader(slots, 1, ReadConsistency.WithinLagBound, Lag, true, Stopwatch.GetTimestamp(), Stopwatch.Frequency, -1, 0));
        Assert.Equal(-1, Router.SelectReader(slots, 1, ReadConsistency.WithinLagBound, Lag, false, Stopwatch.GetTimestamp(), Stopwatch.Frequency, -1, 0));
        slots[2].State = State(slots[2].Endpoint, PostgresRole.Replica, 2, 950, 0, Stopwatch.GetTimestamp());
        Assert.Equal(2, Router.SelectReader(slots, 1, ReadConsistency.WithinLagBound, Lag, false, Stopwatch.GetTimestamp(), Stopwatch.Frequency, -1, 0));
    }

    [Fact]
    public void A_token_read_is_never_served_from_another_timeline_even_when_its_lsn_looks_past_the_token()
    {
        // The soak's case: n1, the old primary (timeline 8), thawed and restarted by Patroni as a standby before it was
        // rewound; its own WAL runs past the fork, so its LSN (990) looks past a token the new primary n3 (timeline 9)
        // gave at 950, yet it lacks that write. Failed on the old rule (n1 served 249 token reads in the soak).
        var timeOnly = new ReplicaLagPolicy { MaxLagTime = TimeSpan.FromSeconds(1) };
        var slots = Slots((PostgresRole.Replica, 8, 990, 0), (PostgresRole.Replica, 9, 940, 0), (PostgresRole.Primary, 9, 960, null));
        int Pick(ReadConsistency c, int primary, bool fallback) => Router.SelectReader(slots, primary, c, timeOnly, fallback, Stopwatch.GetTimestamp(), Stopwatch.Frequency, -1, 0);
        Assert.Equal(2, Pick(new ConsistencyToken(950), primary: 2, fallback: true)); // the primary, not n1

        // No primary known (n3 down, keeping its timeline): the newest timeline seen stands in for it, for token and
        // bounded reads alike.
        slots[2].State = new PostgresHostState(slots[2].Endpoint, PostgresRole.Down, 9, 960, null, Stopwatch.GetTimestamp(), default, TimeSpan.Zero, null);
        Assert.Equal(-1, Pick(new ConsistencyToken(950), primary: -1, fallback: true));
        Assert.Equal(1, Pick(ReadConsistency.WithinLagBound, primary: -1, fallback: true)); // n2, on timeline 9

        // Once n1 follows the new history and has replayed past the token, it serves.
        slots[0].State = State(slots[0].Endpoint, PostgresRole.Replica, 9, 955, 0, Stopwatch.GetTimestamp());
        Assert.Equal(0, Pick(new ConsistencyToken(950), primary: -1, fallback: true));
    }

    [Fact]
    public void Stale_probe_counts_against_the_time_bound()
    {
        var slots = Slots((PostgresRole.Primary, 1, 100, null), (PostgresRole.Replica, 1, 100, 0.0));
        var old = Stopwatch.GetTimestamp() - (2 * Stopwatch.Frequency);
        slots[1].State = State(slots[1].Endpoint, PostgresRole.Replica, 1, 100, 0.0, old);
        Assert.Equal(0, Read(slots, ReadConsistency.WithinLagBound));
    }

    [Fact]
    public void A_replica_whose_currency_is_unknown_serves_no_bounded_read()
    {
        // It says it is caught up (lag 0), but no primary sample shows what it holds: e.g. just after a failover.
        var slots = Slots((PostgresRole.Primary, 1, 900, null), (PostgresRole.Replica, 1, 900, 0));
        slots[1].State.CurrentAsOfTimestamp = 0;
        Assert.Equal(0, Read(slots, ReadConsistency.WithinLagBound));
        Assert.Equal(1, Router.SelectReader(slots, 0, ReadConsistency.WithinLagBound, new ReplicaLagPolicy { MaxLagTime = null }, true, Stopwatch.GetTimestamp(), Stopwatch.Frequency, -1, 0));
    }

    [Fact]
    public void Token_reads_need_a_replica_past_the_lsn_else_the_primary()
    {
        var slots = Slots((PostgresRole.Primary, 1, 900, null), (PostgresRole.Replica, 1, 800, 0), (PostgresRole.Replica, 1, 900, 0));
        Assert.Equal(2, Read(slots, new ConsistencyToken(850)));
        Assert.Equal(0, Read(slots, new ConsistencyToken(901), fallback: false));
    }

    [Fact]
    public void Strong_reads_go_to_the_primary()
    {
        var slots = Slots((PostgresRole.Primary, 1, 900, null), (PostgresRole.Replica, 1, 900, 0));
        Assert.Equal(0, Read(slots, ReadConsistency.Primary));
    }

    [Fact]
    public void Retry_excludes_the_failed_node()
    {
        var slots = Slots((PostgresRole.Primary, 1, 900, null), (PostgresRole.Replica, 1, 900, 0), (PostgresRole.Replica, 1, 900, 0));
        Assert.Equal(2, Read(slots, ReadConsistency.WithinLagBound, exclude: 1));
        Assert.Equal(-1, Read(slots, ReadConsistency.Primary, exclude: 0));
    }

    [Fact]
    public void Down_and_unknown_hosts_are_never_chosen()
    {
        var slots = Slots((PostgresRole.Down, 1, 900, null), (PostgresRole.Unknown, 0, 0, null));
        Assert.Equal(-1, Router.SelectPrimary(slots, 0));
        Assert.Equal(-1, Read(slots, ReadConsistency.WithinLagBound));
    }
}
