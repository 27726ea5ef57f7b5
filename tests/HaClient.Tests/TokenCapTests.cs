using HaClient.Routing;
using Xunit;

namespace HaClient.Tests.Unit;

/// <summary>The shared rule behind capping read-your-writes tokens: only a probe that began after the request counts,
/// and fresh samples are asked for at a bounded rate.</summary>
public sealed class TokenCapTests
{
    private const long Frequency = 1_000_000; // a microsecond clock

    [Theory]
    [InlineData(10_000, 2_000, 7_000, true)] // began at 8 000, after the request
    [InlineData(10_000, 2_000, 8_000, false)] // began with the request: not after it
    [InlineData(10_000, 2_000, 9_000, false)] // began before it, completed after: proves nothing
    [InlineData(0, 0, -5, false)] // never probed
    public void Only_a_probe_that_began_after_the_request_counts(long probedAt, long tookMicroseconds, long requestStarted, bool counts)
        => Assert.Equal(counts, TokenCap.ProbeBegunAfter(probedAt, TimeSpan.FromMicroseconds(tookMicroseconds), requestStarted, Frequency));

    [Fact]
    public void Samples_are_claimed_at_most_once_per_gap()
    {
        long last = 0;
        var gap = (long)(TokenCap.SampleGap.TotalSeconds * Frequency);
        Assert.True(TokenCap.TryClaimSample(ref last, 100, Frequency));
        Assert.False(TokenCap.TryClaimSample(ref last, 100 + gap - 1, Frequency));
        Assert.True(TokenCap.TryClaimSample(ref last, 100 + gap, Frequency));
        Assert.Equal(100 + gap, last);
    }
}
