using Microsoft.Extensions.Time.Testing;
using Xunit;
using static HaClient.Redis.Tests.Unit.States;

namespace HaClient.Redis.Tests.Unit;

/// <summary>A Redis token beyond the primary's offset is capped only once a probe of that primary began after the
/// request carrying the token began; a token of an unknown history is dropped (<see cref="RedisTokenCap"/>, over
/// hand-made probe results on a <see cref="FakeTimeProvider"/>).</summary>
public class RedisTokenCapTests(RouterNodes fixture) : IClassFixture<RouterNodes>
{
    private const string A = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    private const string B = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    private readonly FakeTimeProvider _time = new();

    /// <summary>A probe result of node <paramref name="i"/> that began 2 ms ago and completes now, on history
    /// <see cref="A"/> at <paramref name="offset"/>.</summary>
    private RedisNodeState Probed(int i, RedisNodeRole role, long offset)
        => new(Ep(i), role, offset, role == RedisNodeRole.Replica ? Ep(0) : null, role == RedisNodeRole.Replica ? "connected" : null, _time.GetTimestamp(), _time.GetUtcNow(), TimeSpan.FromMilliseconds(2), null)
        {
            History = new ReplicationInfo(role == RedisNodeRole.Primary, A, null, offset),
        };

    private RedisTopology Topology(long primaryOffset, long replicaOffset)
    {
        var states = new[] { Probed(0, RedisNodeRole.Primary, primaryOffset), Probed(1, RedisNodeRole.Replica, replicaOffset) };
        return new(1, fixture.Nodes[..2], states, 0, 0, primaryOffset);
    }

    private RedisConsistencyToken Cap(RedisTopology t, RedisConsistencyToken token, long started, out bool sample)
        => RedisTokenCap.Cap(t, token, started, _time.TimestampFrequency, out sample);

    [Fact]
    public void A_forged_offset_is_capped_once_a_probe_of_the_primary_began_after_the_request()
    {
        var forged = new RedisConsistencyToken(A, long.MaxValue);
        var started = _time.GetTimestamp();
        Assert.Equal(forged, Cap(Topology(500, 500), forged, started, out var sample));
        Assert.True(sample);

        _time.Advance(TimeSpan.FromMilliseconds(5));
        Assert.Equal(new RedisConsistencyToken(A, 520), Cap(Topology(520, 500), forged, started, out sample));
        Assert.False(sample);
    }

    [Fact]
    public void A_real_token_of_a_write_after_the_last_probe_is_not_capped()
    {
        var before = Topology(500, 500);
        _time.Advance(TimeSpan.FromMilliseconds(30));
        var real = new RedisConsistencyToken(A, 560); // written after that probe, acknowledged before the request
        _time.Advance(TimeSpan.FromMilliseconds(1));
        var started = _time.GetTimestamp();
        Assert.Equal(real, Cap(before, real, started, out _));

        _time.Advance(TimeSpan.FromMilliseconds(1)); // began 1 ms before the request: proves nothing
        Assert.Equal(real, Cap(Topology(540, 500), real, started, out _));

        _time.Advance(TimeSpan.FromMilliseconds(10));
        Assert.Equal(real, Cap(Topology(560, 500), real, started, out var sample));
        Assert.False(sample);
    }

    [Fact]
    public void A_token_of_an_unknown_history_is_dropped_and_an_older_one_left_to_the_primary()
    {
        var t = Topology(500, 500);
        Assert.Equal(default, Cap(t, new RedisConsistencyToken(B, 10), _time.GetTimestamp(), out _));

        // The primary was promoted from history B (now its previous ID): a B token is kept, for the primary to answer.
        var states = new[]
        {
            new RedisNodeState(Ep(0), RedisNodeRole.Primary, 500, null, null, _time.GetTimestamp(), _time.GetUtcNow(), TimeSpan.Zero, null) { History = new ReplicationInfo(true, A, B, 500) },
            Probed(1, RedisNodeRole.Replica, 500),
        };
        var old = new RedisConsistencyToken(B, 9999);
        Assert.Equal(old, Cap(new RedisTopology(1, fixture.Nodes[..2], states, 0, 0, 500), old, _time.GetTimestamp(), out _));

        // Before any node's history is known, nothing can be judged: the token stands.
        var unknown = new[] { new RedisNodeState(Ep(0), RedisNodeRole.Primary, 500, null, null, 1, default, TimeSpan.Zero, null) };
        Assert.Equal(old, Cap(new RedisTopology(1, fixture.Nodes[..1], unknown, 0, 0, 500), old, _time.GetTimestamp(), out _));
    }
}
