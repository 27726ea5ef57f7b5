namespace HaClient.Drill.Soak;

/// <summary>
/// What a majority of the cluster's own voters (Patroni's REST endpoints, the Sentinels) names primary, over time: each
/// voter is asked every 50 ms on its own dedicated thread (a voter cut off from the DCS may block: its answer then
/// times out and counts as none), and whenever the verdict changes (the node named by a strict majority of all the
/// voters, or none) it is recorded with its time. The soak's wrong-role rule uses it as the drills' partition rules do
/// (<c>old_leader_acks_after_majority</c>, <c>old_master_acks_after_majority</c>): a write that a node acknowledged
/// after the majority named another primary was acknowledged by a non-primary, even while that node, cut off from
/// its DCS, still answered as a primary itself.
/// </summary>
public abstract class MajorityVerdicts
{
    private readonly int[] _named;
    private readonly Thread[] _threads;
    private readonly Lock _gate = new();
    private readonly List<(double At, int Primary)> _changes = [(0, -1)];
    private volatile bool _stop;

    /// <param name="voters">The voters' names (for the threads).</param>
    /// <param name="nodes">The data nodes by index (<c>host:port</c>, as the side's observer names them): a voter's
    /// answer maps to one of them.</param>
    protected MajorityVerdicts(IReadOnlyList<string> voters, IReadOnlyList<string> nodes)
    {
        Nodes = nodes;
        _named = Enumerable.Repeat(-1, voters.Count).ToArray();
        _threads = voters.Select((v, i) => new Thread(() => Loop(i)) { IsBackground = true, Name = $"verdicts {v}" }).ToArray();
    }

    protected IReadOnlyList<string> Nodes { get; }

    protected bool Stopping => _stop;

    public void Start()
    {
        foreach (var t in _threads) t.Start();
    }

    public virtual void Stop()
    {
        _stop = true;
        foreach (var t in _threads) t.Join(TimeSpan.FromSeconds(5));
    }

    /// <summary>Whether, at <paramref name="at"/> (Unix ms), the verdict in force (the last one recorded before it)
    /// named a primary other than <paramref name="node"/>.</summary>
    public bool NamedAnother(int node, double at)
    {
        lock (_gate)
        {
            for (var i = _changes.Count - 1; i >= 0; i--)
            {
                if (_changes[i].At <= at) return _changes[i].Primary >= 0 && _changes[i].Primary != node;
            }

            return false;
        }
    }

    /// <summary>The node <paramref name="voter"/> names primary now, or -1 (no answer, none named, or a node no index
    /// matches). Called on that voter's own thread only.</summary>
    protected abstract int Ask(int voter);

    /// <summary>The index of the node <c>host:port</c>, or -1.</summary>
    protected int NodeOf(string? host, int port)
    {
        for (var i = 0; i < Nodes.Count; i++)
        {
            if (Nodes[i] == $"{host}:{port}") return i;
        }

        return -1;
    }

    private void Loop(int voter)
    {
        while (!_stop)
        {
            var started = Lab.NowUnixMs();
            int named;
            try
            {
                named = Ask(voter);
            }
            catch (Exception)
            {
                named = -1;
            }

            lock (_gate)
            {
                _named[voter] = named;
                var verdict = Majority();
                if (verdict != _changes[^1].Primary && _changes.Count < 100_000) _changes.Add((Lab.NowUnixMs(), verdict));
            }

            var left = 50 - (Lab.NowUnixMs() - started);
            if (left > 0 && !_stop) Thread.Sleep(TimeSpan.FromMilliseconds(left));
        }
    }

    /// <summary>The node a strict majority of all the voters names (-1: none does).</summary>
    private int Majority()
    {
        foreach (var g in _named.Where(n => n >= 0).GroupBy(n => n))
        {
            if (g.Count() * 2 > _named.Length) return g.Key;
        }

        return -1;
    }
}
