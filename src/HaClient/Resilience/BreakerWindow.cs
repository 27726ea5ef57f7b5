namespace HaClient.Resilience;

/// <summary>
/// The failure-ratio rule's sampling window, kept by HaClient while the circuit is closed, so that a call's outcome is
/// one lock and a clock read instead of a run through Polly's pipeline (two locks, a context, several frames: about
/// 0.35 µs, <c>BreakerBenchmarks.RecordSuccess</c>). It counts exactly as Polly v8's rolling health metrics do (its
/// <c>RollingHealthMetrics</c>: the sampling duration in ten windows, each started by the first outcome after the last
/// one's length, read on the component's clock's UTC time) and opens by the same test (at least the minimum
/// throughput, a failure ratio at or above the threshold). It holds only what Polly's metrics hold after the circuit
/// last closed: it is emptied when HaClient opens the circuit and when Polly closes it.
/// </summary>
internal sealed class BreakerWindow
{
    private const int Windows = 10;
    private readonly object _lock = new();
    private readonly TimeProvider _time;
    private readonly TimeSpan _samplingDuration;
    private readonly TimeSpan _windowDuration;
    private readonly double _failureRatio;
    private readonly int _minimumThroughput;

    // A ring of the live windows (at most Windows + 1), oldest first.
    private readonly DateTimeOffset[] _startedAt = new DateTimeOffset[Windows + 2];
    private readonly int[] _windowSuccesses = new int[Windows + 2];
    private readonly int[] _windowFailures = new int[Windows + 2];
    private int _first;
    private int _count;
    private int _successes;
    private int _failures;

    public BreakerWindow(TimeSpan samplingDuration, double failureRatio, int minimumThroughput, TimeProvider time)
    {
        _time = time;
        _samplingDuration = samplingDuration;
        _windowDuration = TimeSpan.FromTicks(samplingDuration.Ticks / Windows);
        _failureRatio = failureRatio;
        _minimumThroughput = minimumThroughput;
    }

    /// <summary>Counts a success (an outcome that does not count against the endpoint).</summary>
    public void RecordSuccess()
    {
        lock (_lock)
        {
            _successes++;
            _windowSuccesses[Current()]++;
        }
    }

    /// <summary>Counts a failure; true when the circuit must open (Polly's test, after the window moved on).</summary>
    public bool RecordFailure()
    {
        lock (_lock)
        {
            _failures++;
            _windowFailures[Current()]++;
            Current();
            var throughput = _successes + _failures;
            return throughput >= _minimumThroughput && (double)_failures / throughput >= _failureRatio;
        }
    }

    /// <summary>Forgets every outcome (the circuit opened or closed).</summary>
    public void Reset()
    {
        lock (_lock)
        {
            _successes = 0;
            _failures = 0;
            _count = 0;
        }
    }

    /// <summary>The slot of the current window: a new one when there is none or the last is a window's length old;
    /// windows a sampling duration old leave the sums.</summary>
    private int Current()
    {
        var now = _time.GetUtcNow();
        if (_count == 0 || now - _startedAt[Slot(_count - 1)] >= _windowDuration)
        {
            if (_count == _startedAt.Length)
            {
                Drop(); // cannot happen: the oldest is at least ten windows old here
            }

            var slot = Slot(_count++);
            _startedAt[slot] = now;
            _windowSuccesses[slot] = 0;
            _windowFailures[slot] = 0;
        }

        while (now - _startedAt[_first] >= _samplingDuration)
        {
            Drop();
        }

        return Slot(_count - 1);
    }

    private void Drop()
    {
        _successes -= _windowSuccesses[_first];
        _failures -= _windowFailures[_first];
        _first = (_first + 1) % _startedAt.Length;
        _count--;
    }

    private int Slot(int index) => (_first + index) % _startedAt.Length;
}
