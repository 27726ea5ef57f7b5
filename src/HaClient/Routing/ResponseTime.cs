namespace HaClient.Routing;

/// <summary>
/// A node's recent response time as an exponentially weighted moving average in <see cref="TimeSpan"/> ticks, kept in a
/// <see langword="long"/> field of the node and updated lock-free from probe round trips and calls' durations. Each sample
/// moves the average a quarter of the way towards it, so a node that turns slow is seen within a few samples and one that
/// recovers comes back as fast. A sample counts at most four times the average (or the floor,
/// <see cref="ReadChoice.ResponseTimeFloorTicks"/>): one outlier (a pooler opening a server connection, a GC pause) does
/// not lift a node into a slower tier, while a node that stays slow still climbs there within a few samples. The first
/// sample (and a reset's) counts at most twice the floor (the fastest tier): a fresh connection's first query is slower than the
/// rest, and a node is taken as fast until its samples show otherwise.
/// </summary>
public static class ResponseTime
{
    /// <summary>Folds <paramref name="sample"/> into the average in <paramref name="average"/> (0 = no sample yet: it
    /// becomes the sample, capped). Lock-free; under heavy contention a sample may be dropped, which an average can afford.</summary>
    public static void Record(ref long average, TimeSpan sample)
    {
        var ticks = Math.Max(sample.Ticks, 1);
        for (var attempt = 0; attempt < 4; attempt++)
        {
            var old = Volatile.Read(ref average);
            var capped = old <= 0 ? Math.Min(ticks, FirstSampleCap) : Math.Min(ticks, 4 * Math.Max(old, ReadChoice.ResponseTimeFloorTicks));
            var next = old <= 0 ? capped : old + ((capped - old) / 4);
            if (Interlocked.CompareExchange(ref average, Math.Max(next, 1), old) == old)
            {
                return;
            }
        }
    }

    /// <summary>Starts the average over at <paramref name="sample"/> (a node back from down: its old figures say nothing
    /// of it now).</summary>
    public static void Reset(ref long average, TimeSpan sample) => Volatile.Write(ref average, Math.Clamp(sample.Ticks, 1, FirstSampleCap));

    /// <summary>The most a first sample (or a reset's) counts: twice the floor, inside the fastest tier.</summary>
    private const long FirstSampleCap = 2 * ReadChoice.ResponseTimeFloorTicks;

    /// <summary>The average in <paramref name="average"/>, or <see langword="null"/> before the first sample.</summary>
    public static TimeSpan? Read(ref long average) => Volatile.Read(ref average) is > 0 and var t ? TimeSpan.FromTicks(t) : null;
}
