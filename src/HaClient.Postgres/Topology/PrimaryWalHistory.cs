namespace HaClient.Postgres;

/// <summary>
/// The primary's WAL position over time: a small ring of (timestamp, LSN) samples. A replica that has replayed up to
/// LSN R holds every write the primary had acknowledged when it was sampled at an LSN ≤ R; the newest such sample's time
/// is how current the replica is. This bounds staleness without trusting the replica's own view (a replica cut off from
/// its primary still reports "everything received is replayed"). Not thread-safe: the monitor calls it under its lock.
/// </summary>
internal sealed class PrimaryWalHistory
{
    private readonly long[] _timestamps;
    private readonly ulong[] _lsns;
    private int _next;
    private int _count;

    public PrimaryWalHistory(int capacity = 128)
    {
        _timestamps = new long[capacity];
        _lsns = new ulong[capacity];
    }

    /// <summary>Records the primary at <paramref name="lsn"/> when <paramref name="timestamp"/> was taken.</summary>
    public void Add(long timestamp, ulong lsn)
    {
        _timestamps[_next] = timestamp;
        _lsns[_next] = lsn;
        _next = (_next + 1) % _timestamps.Length;
        _count = Math.Min(_count + 1, _timestamps.Length);
    }

    /// <summary>Forgets every sample (a new primary has its own history).</summary>
    public void Clear()
    {
        _count = 0;
        _next = 0;
    }

    /// <summary>The newest sample time at which the primary's LSN was ≤ <paramref name="replayLsn"/>, or 0 when no sample
    /// is that old (the replica's currency is unknown, so it serves no bounded read).</summary>
    public long CurrentAsOf(ulong replayLsn)
    {
        long best = 0;
        for (var k = 0; k < _count; k++)
        {
            var i = (_next - 1 - k + _timestamps.Length) % _timestamps.Length;
            if (_lsns[i] <= replayLsn && _timestamps[i] > best)
            {
                best = _timestamps[i];
            }
        }

        return best;
    }
}
