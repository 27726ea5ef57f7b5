using HaClient.Resilience;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Xunit;

namespace HaClient.Postgres.Tests.Unit;

/// <summary>Tokens are input: a token of another cluster is ignored, and a token beyond the primary is capped only once
/// a probe of the primary began after the request carrying it began (<see cref="PostgresTokenCap"/>, over hand-made
/// host states on a <see cref="FakeTimeProvider"/>).</summary>
public sealed class TokenCapTests
{
    private const ulong Ours = 7301234567890123456;
    private const ulong Theirs = 7301234567890999999;
    private static readonly ReplicaLagPolicy Lag = new() { MaxLagTime = TimeSpan.FromSeconds(5), MaxLagBytes = 1 << 20 };

    private readonly FakeTimeProvider _time = new();

    /// <summary>A primary at <paramref name="primaryLsn"/> probed now (the probe took 2 ms) and a replica at
    /// <paramref name="replicaLsn"/>, both of system identifier <see cref="Ours"/>.</summary>
    private HostSlot[] Cluster(ulong primaryLsn, ulong replicaLsn)
    {
        var slots = Enumerable.Range(0, 2).Select(i =>
        {
            var ep = new HostEndpoint("127.0.0.1", 1000 + i);
            return new HostSlot(i, ep, NpgsqlDataSource.Create($"Host=127.0.0.1;Port={1000 + i}"), NpgsqlDataSource.Create($"Host=127.0.0.1;Port={1000 + i}"),
                new EndpointCircuit("t", ep.ToString(), new EndpointResilienceOptions(), _ => FailureKind.EndpointFailure, _time)) { SystemIdentifier = Ours };
        }).ToArray();
        Probe(slots[0], PostgresRole.Primary, primaryLsn);
        Probe(slots[1], PostgresRole.Replica, replicaLsn);
        return slots;
    }

    /// <summary>A probe of <paramref name="slot"/> that began 2 ms ago and completes now.</summary>
    private void Probe(HostSlot slot, PostgresRole role, ulong lsn, int timeline = 1)
    {
        var state = new PostgresHostState(slot.Endpoint, role, timeline, lsn, role == PostgresRole.Replica ? 0 : null, _time.GetTimestamp(), _time.GetUtcNow(), TimeSpan.FromMilliseconds(2), null);
        if (role == PostgresRole.Replica)
        {
            state.CurrentAsOfTimestamp = _time.GetTimestamp();
        }

        slot.State = state;
    }

    private ConsistencyToken Cap(HostSlot[] slots, ConsistencyToken token, long started, out bool sample)
        => PostgresTokenCap.Cap(slots, 0, token, started, _time.TimestampFrequency, out sample);

    private int Read(HostSlot[] slots, ConsistencyToken token)
        => Router.SelectReader(slots, 0, ReadConsistency.AtLeast(token), Lag, true, _time.GetTimestamp(), _time.TimestampFrequency, -1, 0);

    [Fact]
    public void A_forged_token_is_capped_once_a_probe_of_the_primary_began_after_the_request()
    {
        var slots = Cluster(0x5000, 0x5000);
        var forged = ConsistencyToken.Parse("FFFFFFFF/FFFFFFFF");
        var started = _time.GetTimestamp();

        // The primary's last probe began before the request: it cannot tell a forged token from a real later write's.
        Assert.Equal(new ConsistencyToken(forged.Lsn, Ours), Cap(slots, forged, started, out var sample));
        Assert.True(sample);

        _time.Advance(TimeSpan.FromMilliseconds(5));
        Probe(slots[0], PostgresRole.Primary, 0x5100);
        var capped = Cap(slots, forged, started, out sample);
        Assert.False(sample);
        Assert.Equal(new ConsistencyToken(0x5100, Ours), capped);
        Assert.Equal("7301234567890123456:0/5100", capped.ToString());

        // The forged token pins reads to the primary; the capped one lets a replica that reached it serve them.
        Probe(slots[1], PostgresRole.Replica, 0x5100);
        Assert.Equal(0, Read(slots, forged));
        Assert.Equal(1, Read(slots, capped));
    }

    [Fact]
    public void A_real_token_of_a_write_after_the_last_probe_is_not_capped()
    {
        var slots = Cluster(0x5000, 0x5000);

        // A write acknowledged after the primary's last probe (its token is beyond that probe), then the request
        // carrying it: no probe began after the request, so the token stands.
        _time.Advance(TimeSpan.FromMilliseconds(50));
        var real = new ConsistencyToken(0x5080, Ours);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        var started = _time.GetTimestamp();
        Assert.Equal(real, Cap(slots, real, started, out var sample));
        Assert.True(sample);

        // A probe that began before the request and completed after it proves nothing either.
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Probe(slots[0], PostgresRole.Primary, 0x5040);
        Assert.Equal(real, Cap(slots, real, started, out _));

        // One that began after it sees the write's position (or beyond): the token is within it, unchanged.
        _time.Advance(TimeSpan.FromMilliseconds(10));
        Probe(slots[0], PostgresRole.Primary, 0x5080);
        Assert.Equal(real, Cap(slots, real, started, out sample));
        Assert.False(sample);
    }

    [Fact]
    public void A_token_is_not_capped_by_a_primary_behind_another_hosts_timeline()
    {
        var slots = Cluster(0x5000, 0x5000);
        var started = _time.GetTimestamp();
        _time.Advance(TimeSpan.FromMilliseconds(5));
        Probe(slots[0], PostgresRole.Primary, 0x5000, timeline: 1);
        Probe(slots[1], PostgresRole.Replica, 0x5000, timeline: 2); // a promotion the monitor has not followed yet
        var token = new ConsistencyToken(0x6000, Ours);
        Assert.Equal(token, Cap(slots, token, started, out _));
    }

    [Fact]
    public void A_token_of_another_cluster_is_ignored()
    {
        var slots = Cluster(0x5000, 0x1000);
        var foreign = new ConsistencyToken(0x4000, Theirs);
        Assert.Equal(default, Cap(slots, foreign, _time.GetTimestamp(), out _));

        // Routed as no token: the replica (within the lag bound, but not past 0x4000) serves it, not the primary.
        Assert.Equal(1, Read(slots, foreign));
        Assert.Equal(0, Read(slots, new ConsistencyToken(0x4000, Ours)));
        Assert.Equal(0, Read(slots, new ConsistencyToken(0x4000))); // the older form: this cluster's

        // A replica of another cluster in the host list never proves a token of ours.
        slots[1].SystemIdentifier = Theirs;
        Probe(slots[1], PostgresRole.Replica, 0x5000);
        Assert.Equal(0, Read(slots, new ConsistencyToken(0x4000, Ours)));
    }

    [Fact]
    public void An_identifier_less_token_takes_the_clusters_identifier_and_an_unknown_identifier_accepts_any()
    {
        var slots = Cluster(0x5000, 0x5000);
        Assert.Equal(new ConsistencyToken(0x10, Ours), Cap(slots, new ConsistencyToken(0x10), _time.GetTimestamp(), out _));

        foreach (var s in slots)
        {
            s.SystemIdentifier = 0; // not read yet (or pg_control_system() refused)
        }

        Assert.Equal(new ConsistencyToken(0x10, Theirs), Cap(slots, new ConsistencyToken(0x10, Theirs), _time.GetTimestamp(), out _));
        Assert.Equal(default, Cap(slots, default, _time.GetTimestamp(), out _));
    }

    [Fact]
    public void Token_routing_and_the_cap_allocate_nothing()
    {
        var slots = Cluster(0x5000, 0x5000);
        var tokens = new[] { new ConsistencyToken(0x4000, Ours), new ConsistencyToken(0x4000, Theirs), new ConsistencyToken(0x6000), ConsistencyToken.Parse("FFFFFFFF/FFFFFFFF") };
        var started = _time.GetTimestamp() - 1_000_000;
        for (var i = 0; i < 100; i++)
        {
            Read(slots, tokens[i % 4]);
            Cap(slots, tokens[i % 4], started, out _);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10_000; i++)
        {
            Read(slots, tokens[i % 4]);
            Cap(slots, tokens[i % 4], started, out _);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
