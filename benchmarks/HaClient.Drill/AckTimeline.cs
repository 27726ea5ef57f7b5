namespace HaClient.Drill;

/// <summary>
/// The acknowledged writes in the order they were acknowledged, for the bounded-read check "the read must see the
/// latest write acknowledged more than the bound ago". A binary search over an append-only list under a short lock:
/// the drill used to scan every acknowledged write on every operation, which at hundreds of callers and tens of
/// thousands of writes was CPU the client under test did not get (and latency it was blamed for).
/// </summary>
/// <typeparam name="T">What identifies a write (a row id, a key).</typeparam>
public sealed class AckTimeline<T>(Func<T, T, T> latest)
{
    private readonly Lock _gate = new();
    private readonly List<double> _at = [];
    private readonly List<T> _best = [];

    /// <summary>Records a write acknowledged at <paramref name="at"/> (Unix ms); times are kept non-decreasing (a write
    /// recorded a few microseconds out of order takes its predecessor's time).</summary>
    public void Add(double at, T write)
    {
        lock (_gate)
        {
            var n = _at.Count;
            _at.Add(n > 0 && _at[n - 1] > at ? _at[n - 1] : at);
            _best.Add(n > 0 ? latest(_best[n - 1], write) : write);
        }
    }

    /// <summary>The latest write (by the combine rule) acknowledged before <paramref name="before"/>, or the default.</summary>
    public T? Before(double before)
    {
        lock (_gate)
        {
            int lo = 0, hi = _at.Count; // first index with at >= before
            while (lo < hi)
            {
                var mid = (lo + hi) >>> 1;
                if (_at[mid] < before) lo = mid + 1;
                else hi = mid;
            }

            return lo == 0 ? default : _best[lo - 1];
        }
    }
}
