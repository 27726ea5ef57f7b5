namespace HaClient.Redis;

/// <summary>
/// The primary's replication offset over time: a small ring of (timestamp, offset) samples, from which a replica's lag
/// in seconds is estimated (how long ago the primary first passed the replica's offset). Not thread-safe: the monitor
/// calls it under its lock.
/// </summary>
internal sealed class PrimaryOffsetHistory(int capacity = 256)
{
    private readonly long[] _timestamps = new long[capacity];
    private readonly long[] _offsets = new long[capacity];
    private int _next;
    private int _count;

    /// <summary>Records the primary at <paramref name="offset"/> when <paramref name="timestamp"/> was taken.</summary>
    public void Add(long timestamp, long offset)
    {
        _timestamps[_next] = timestamp;
        _offsets[_next] = offset;
        _next = (_next + 1) % _timestamps.Length;
        _count = Math.Min(_count + 1, _timestamps.Length);
    }

    /// <summary>Forgets every sample (a new primary).</summary>
    public void Clear() => _count = _next = 0;

    /// <summary>The oldest sample time at which the primary stood beyond <paramref name="offset"/>; 0 when none did.</summary>
    public long FirstPast(long offset)
    {
        for (var k = _count; k > 0; k--)
        {
            var i = (_next - k + _timestamps.Length) % _timestamps.Length;
            if (_offsets[i] > offset)
            {
                return _timestamps[i];
            }
        }

        return 0;
    }
}
