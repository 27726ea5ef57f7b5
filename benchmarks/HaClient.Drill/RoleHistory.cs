using System.Collections.Concurrent;

namespace HaClient.Drill;

/// <summary>
/// What a drill observer saw: each node's role over time (primary/master or not) and the first moment after the fault
/// that each node was writable. The Postgres and Redis observers probe differently and record here.
/// </summary>
internal class RoleHistory
{
    private readonly ConcurrentDictionary<int, List<(double At, bool Primary)>> _samples = new();
    private readonly ConcurrentDictionary<int, double> _firstWritableAfterFault = new();

    /// <summary>When the fault was injected (Unix ms); <see cref="double.MaxValue"/> before.</summary>
    public double FaultAt { get; set; } = double.MaxValue;

    /// <summary>The node that answered primary in its latest sample, or -1.</summary>
    public int CurrentPrimary()
    {
        foreach (var (port, list) in _samples)
        {
            lock (list)
            {
                if (list.Count > 0 && list[^1].Primary)
                {
                    return port;
                }
            }
        }

        return -1;
    }

    /// <summary>Whether the node was seen as a replica both before the write started and after it was acked (so it
    /// acknowledged a write while a replica: impossible unless the client wrote to the wrong node).</summary>
    public bool WasReplicaThroughout(int port, double started, double acked)
    {
        if (!_samples.TryGetValue(port, out var list))
        {
            return false;
        }

        lock (list)
        {
            bool? before = null, after = null;
            foreach (var (at, primary) in list)
            {
                if (at < started)
                {
                    before = !primary;
                }
                else if (at > acked && after is null)
                {
                    after = !primary;
                }
            }

            return before == true && after == true;
        }
    }

    /// <summary>How many times the node answering primary changed (after the first sample).</summary>
    public int PrimaryChanges()
    {
        var events = new List<(double At, int Port)>();
        foreach (var (port, list) in _samples)
        {
            lock (list)
            {
                var prev = false;
                foreach (var (at, primary) in list)
                {
                    if (primary && !prev)
                    {
                        events.Add((at, port));
                    }

                    prev = primary;
                }
            }
        }

        var changes = 0;
        var current = -1;
        foreach (var (_, port) in events.OrderBy(e => e.At))
        {
            if (current >= 0 && port != current)
            {
                changes++;
            }

            current = port;
        }

        return changes;
    }

    /// <summary>The first node other than <paramref name="oldPrimary"/> writable after the fault, and when; (-1, -1) if none.</summary>
    public (int Port, double At) FirstWritableAfterFault(int oldPrimary)
    {
        var best = (Port: -1, At: double.MaxValue);
        foreach (var (port, at) in _firstWritableAfterFault)
        {
            if (port != oldPrimary && at < best.At)
            {
                best = (port, at);
            }
        }

        return best.Port < 0 ? (-1, -1) : best;
    }

    /// <summary>Records one role sample of <paramref name="port"/>.</summary>
    protected void Record(int port, double at, bool primary)
    {
        var list = _samples.GetOrAdd(port, _ => new List<(double, bool)>());
        lock (list)
        {
            list.Add((at, primary));
        }
    }

    /// <summary>Whether a primary sample of <paramref name="port"/> at <paramref name="at"/> is after the fault and the
    /// node's writability after the fault is not yet recorded.</summary>
    protected bool AwaitsWritableAfterFault(int port, double at) => at > FaultAt && !_firstWritableAfterFault.ContainsKey(port);

    /// <summary>Records the first moment after the fault that <paramref name="port"/> was writable.</summary>
    protected void RecordWritableAfterFault(int port, double at) => _firstWritableAfterFault.TryAdd(port, at);
}
