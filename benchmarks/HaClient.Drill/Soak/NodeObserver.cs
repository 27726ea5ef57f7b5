using System.Collections.Concurrent;

namespace HaClient.Drill.Soak;

/// <summary>
/// What the soak's observers share: <see cref="RoleHistory"/> (the drills' record of each node's role over time), kept
/// small over a long run (a sample is recorded when the role changes, or 250 ms after the last one), plus when each
/// node last answered, which server identity each node has (so an acknowledgement naming its server can be traced to
/// a node) and how many of the workload's connections each server counts. One dedicated thread per node: the client
/// under test may starve the thread pool, and the observer's timestamps must not suffer from it.
/// </summary>
internal abstract class NodeObserver : RoleHistory
{
    private const double KeepEveryMs = 250;
    private readonly double[] _lastRecorded;
    private readonly int[] _lastRole; // -1 unknown, 0 replica, 1 primary
    private readonly double[] _lastAnswer;
    private readonly int[] _serverConnections;
    private readonly ConcurrentDictionary<string, int> _identities = new(StringComparer.Ordinal);
    private readonly Thread[] _threads;
    private readonly ConcurrentQueue<(double At, int Node)> _becamePrimary = new();
    private volatile bool _stop;

    protected NodeObserver(IReadOnlyList<string> names, string kind)
    {
        Names = names;
        _lastRecorded = new double[names.Count];
        _lastRole = Enumerable.Repeat(-1, names.Count).ToArray();
        _lastAnswer = new double[names.Count];
        _serverConnections = Enumerable.Repeat(-1, names.Count).ToArray();
        _threads = names.Select((n, i) => new Thread(() => Loop(i)) { IsBackground = true, Name = $"{kind} observer {n}" }).ToArray();
    }

    /// <summary>The nodes, by index (the key every record uses).</summary>
    public IReadOnlyList<string> Names { get; }

    protected bool Stopping => _stop;

    public void Start()
    {
        foreach (var t in _threads) t.Start();
    }

    public void Stop()
    {
        _stop = true;
        foreach (var t in _threads) t.Join(TimeSpan.FromSeconds(5));
    }

    /// <summary>The node whose server identity is <paramref name="identity"/>, or -1 when none has reported it.</summary>
    public int NodeOf(string identity) => _identities.TryGetValue(identity, out var i) ? i : -1;

    /// <summary>Whether every node answered within <paramref name="withinMs"/> and exactly one is primary.</summary>
    public bool AllAnsweringOnePrimary(double withinMs)
    {
        var now = Lab.NowUnixMs();
        var primaries = 0;
        for (var i = 0; i < Names.Count; i++)
        {
            if (now - Volatile.Read(ref _lastAnswer[i]) > withinMs) return false;
            if (Volatile.Read(ref _lastRole[i]) == 1) primaries++;
        }

        return primaries == 1;
    }

    /// <summary>The one node that answered primary within the last second (a frozen node's last answer does not count),
    /// or -1 when none or several did.</summary>
    public int PrimaryNow()
    {
        var now = Lab.NowUnixMs();
        var found = -1;
        for (var i = 0; i < Names.Count; i++)
        {
            if (Volatile.Read(ref _lastRole[i]) != 1 || now - Volatile.Read(ref _lastAnswer[i]) > 1000) continue;
            if (found >= 0) return -1;
            found = i;
        }

        return found;
    }

    /// <summary>Whether a node other than <paramref name="oldPrimary"/> answered primary within the last second, whatever
    /// the old one answers (a master cut off from its Sentinels, still reachable, still answers <c>master</c>).</summary>
    public bool PrimaryOtherThan(int oldPrimary)
    {
        var now = Lab.NowUnixMs();
        for (var i = 0; i < Names.Count; i++)
        {
            if (i != oldPrimary && Volatile.Read(ref _lastRole[i]) == 1 && now - Volatile.Read(ref _lastAnswer[i]) <= 1000) return true;
        }

        return false;
    }

    /// <summary>Whether <paramref name="oldPrimary"/> answered primary again after another node had (after
    /// <paramref name="since"/>): the old leader took the leadership back from a promoted node, whose acknowledged
    /// writes it then discards (Patroni 3.0.2's lease bug after a freeze; docs/lab-report.md).</summary>
    public bool PrimaryTakenBack(int oldPrimary, double since)
    {
        if (oldPrimary < 0) return false;
        var other = false;
        foreach (var (at, node) in _becamePrimary)
        {
            if (at < since) continue;
            if (node != oldPrimary) other = true;
            else if (other) return true;
        }

        return false;
    }

    /// <summary>The workload's connections each server counted at its last count (-1: not counted yet).</summary>
    public int[] ServerConnections() => (int[])_serverConnections.Clone();

    /// <summary>One node's loop: <see cref="Probe"/> every 5 ms, the connection count every 2 s.</summary>
    protected abstract void Loop(int node);

    /// <summary>Records one role answer of <paramref name="node"/>.</summary>
    protected void Sample(int node, bool primary)
    {
        var at = Lab.NowUnixMs();
        Volatile.Write(ref _lastAnswer[node], at);
        var role = primary ? 1 : 0;
        var previous = Volatile.Read(ref _lastRole[node]);
        if (primary && previous != 1)
        {
            _becamePrimary.Enqueue((at, node));
            while (_becamePrimary.Count > 1000) _becamePrimary.TryDequeue(out _);
        }

        if (previous != role || at - _lastRecorded[node] >= KeepEveryMs)
        {
            Record(node, at, primary);
            _lastRecorded[node] = at;
            Volatile.Write(ref _lastRole[node], role);
        }
    }

    /// <summary>The node did not answer: its role is unknown until it does (so a thawed node that answers primary
    /// again counts as becoming primary).</summary>
    protected void Unreachable(int node) => Volatile.Write(ref _lastRole[node], -1);

    protected void Identify(int node, string identity) => _identities[identity] = node;

    protected void CountConnections(int node, int count) => Volatile.Write(ref _serverConnections[node], count);

    /// <summary>A 5 ms pause that ends early when the observer stops.</summary>
    protected void Pause(int ms = 5)
    {
        if (!_stop) Thread.Sleep(ms);
    }
}
