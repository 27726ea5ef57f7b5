using System.Runtime.CompilerServices;

namespace HaClient.Routing;

/// <summary>
/// The rule every store uses to cap a read-your-writes token that arrives from a client (a forged one, or one of a
/// history the primary has lost): a legitimate token was produced by a write acknowledged before the request carrying
/// it began, so once a probe of the primary has <em>begun</em> after that request began (same deployment, same
/// history), the primary's position in that probe is at or past every legitimate token, and a token beyond it is capped
/// to it. A probe that began earlier proves nothing: a real token issued by a write after it is beyond it. Pure and
/// allocation-free; timestamps are the component's <see cref="TimeProvider"/> ticks.
/// </summary>
public static class TokenCap
{
    /// <summary>The least time between two fresh samples of the primary asked for by <see cref="TryClaimSample"/>.</summary>
    public static readonly TimeSpan SampleGap = TimeSpan.FromMilliseconds(50);

    /// <summary>Whether a probe published at <paramref name="probedAtTimestamp"/> after running
    /// <paramref name="probeDuration"/> began after <paramref name="requestStartedTimestamp"/> (its start is taken as
    /// early as it can have been: the check errs towards "no").</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool ProbeBegunAfter(long probedAtTimestamp, TimeSpan probeDuration, long requestStartedTimestamp, long timestampFrequency)
    {
        if (probedAtTimestamp == 0)
        {
            return false;
        }

        var durationTicks = (long)Math.Ceiling(probeDuration.TotalSeconds * timestampFrequency);
        return probedAtTimestamp - durationTicks - 1 > requestStartedTimestamp;
    }

    /// <summary>Whether the caller may ask the monitor for a fresh sample of the primary now (a token it cannot judge
    /// yet): at most one every <see cref="SampleGap"/> per component, claimed through <paramref name="lastClaim"/>
    /// (the timestamp of the last claim, 0 for none).</summary>
    public static bool TryClaimSample(ref long lastClaim, long nowTimestamp, long timestampFrequency)
    {
        var last = Volatile.Read(ref lastClaim);
        if (last != 0 && nowTimestamp - last < (long)(SampleGap.TotalSeconds * timestampFrequency))
        {
            return false;
        }

        return Interlocked.CompareExchange(ref lastClaim, nowTimestamp, last) == last;
    }
}
