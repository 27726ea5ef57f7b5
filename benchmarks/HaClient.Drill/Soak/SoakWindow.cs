using System.Collections.Concurrent;

namespace HaClient.Drill.Soak;

/// <summary>One acknowledged write: what it wrote, which node acknowledged it (-1: its server identity was not yet known
/// to the observer) and when it started and was acknowledged (Unix ms).</summary>
internal sealed record SoakAck<TKey>(TKey Key, int Node, double StartedAt, double AckedAt);

/// <summary>The acknowledged writes missing on the primary, and whether the lab rebuilt that side from empty data
/// (the drill's marker is gone: <c>eng/lab.sh</c>'s repair fell back to a reset, and every write went with it).</summary>
internal sealed record MissingWrites<TKey>(List<SoakAck<TKey>> Missing, bool Reset);

/// <summary>
/// The workload's figures over one fault's window (from its fault command to the next fault command). The workload
/// writes into the current window; the runner swaps it at each fault and reads the closed one.
/// </summary>
internal sealed class SoakWindow<TKey>(double callLimitMs)
{
    private readonly Lock _gate = new();
    private double _maxCallMs;
    private long _writesFailed, _outcomeUnknown, _readsOk, _stale, _readErrors, _overLimit;

    public ConcurrentQueue<SoakAck<TKey>> Acks { get; } = new();

    /// <summary>What each stale read had to see (a read of a write the server then lost is explained by that loss).</summary>
    public ConcurrentQueue<TKey> StaleKeys { get; } = new();

    public long WritesFailed => Interlocked.Read(ref _writesFailed);
    public long OutcomeUnknown => Interlocked.Read(ref _outcomeUnknown);
    public long ReadsOk => Interlocked.Read(ref _readsOk);
    public long Stale => Interlocked.Read(ref _stale);
    public long ReadErrors => Interlocked.Read(ref _readErrors);

    /// <summary>Calls that took longer than the budget + 500 ms.</summary>
    public long OverLimit => Interlocked.Read(ref _overLimit);

    public double MaxCallMs
    {
        get
        {
            lock (_gate) return _maxCallMs;
        }
    }

    public void Call(double ms)
    {
        if (ms > callLimitMs) Interlocked.Increment(ref _overLimit);
        lock (_gate) _maxCallMs = Math.Max(_maxCallMs, ms);
    }

    public void WriteFailed(bool outcomeUnknown)
    {
        Interlocked.Increment(ref _writesFailed);
        if (outcomeUnknown) Interlocked.Increment(ref _outcomeUnknown);
    }

    /// <summary>Where the stale reads were served and of which kind (<c>token@node</c> or <c>bounded@node</c>), counted.</summary>
    public ConcurrentDictionary<string, int> StaleBy { get; } = new(StringComparer.Ordinal);

    public void Read(bool sawWhatItMust, TKey mustSee, string? how = null)
    {
        if (sawWhatItMust)
        {
            Interlocked.Increment(ref _readsOk);
            return;
        }

        Interlocked.Increment(ref _stale);
        StaleKeys.Enqueue(mustSee);
        if (how is not null) StaleBy.AddOrUpdate(how, 1, (_, n) => n + 1);
    }

    public void ReadFailed() => Interlocked.Increment(ref _readErrors);

    /// <summary>The longest stretch with no acknowledged write from <paramref name="from"/> to <paramref name="to"/>
    /// (Unix ms): the write-unavailability window (the whole span when nothing was acknowledged in it).</summary>
    public double LongestWriteGapMs(double from, double to)
    {
        var at = Acks.Select(a => a.AckedAt).Where(t => t >= from && t <= to).Order().ToArray();
        if (at.Length == 0) return to - from;
        var gap = at[0] - from;
        for (var i = 1; i < at.Length; i++) gap = Math.Max(gap, at[i] - at[i - 1]);
        return gap;
    }
}

/// <summary>The drills' <see cref="AckTimeline{T}"/>, rolled at each heal so a long soak keeps two windows' writes, not
/// all of them: a lookup falls back to the previous timeline.</summary>
internal sealed class RollingTimeline<T>(Func<T, T, T> latest)
{
    private volatile AckTimeline<T> _current = new(latest);
    private volatile AckTimeline<T> _previous = new(latest);

    public void Add(double at, T write) => _current.Add(at, write);

    public T? Before(double before)
    {
        var v = _current.Before(before);
        return v is null || EqualityComparer<T>.Default.Equals(v, default!) ? _previous.Before(before) : v;
    }

    public void Roll()
    {
        _previous = _current;
        _current = new AckTimeline<T>(latest);
    }
}
