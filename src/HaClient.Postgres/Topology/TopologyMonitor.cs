using HaClient.Monitoring;
using HaClient.Resilience;
using HaClient.Telemetry;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;

namespace HaClient.Postgres;

/// <summary>
/// Keeps every host's role, timeline and lag current: one independent probe loop per host (so a frozen host never delays
/// the others), probing every <see cref="PostgresClusterOptions.ProbeInterval"/>, every
/// <see cref="PostgresClusterOptions.FailoverProbeInterval"/> while no primary is known, and at once when a request
/// reports a connection error.
/// </summary>
internal sealed partial class TopologyMonitor : IAsyncDisposable
{
    private readonly HostSlot[] _slots;
    private readonly PostgresClusterOptions _options;
    private readonly string _cluster;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly PatroniWatcher? _patroni;
    private readonly PrimaryWalHistory _walHistory = new();
    private readonly KnownTimelines _timelines;
    private readonly SplitBrainLog _splitBrainLog;
    private readonly Func<string> _claims;

    /// <summary>The host whose WAL positions <see cref="_walHistory"/> holds (-1: none yet).</summary>
    private int _walHistoryHost = -1;
    private readonly HostProber _prober;
    private readonly TopologyChangeSignal _changed = new();
    private PostgresTopology _topology;
    private int _primaryIndex = -1;
    private long _huntUntil;
    private long _primaryLostAt;

    /// <summary>The last host adopted as primary (-1: none yet).</summary>
    private int _lastPrimary = -1;
    private long _version;

    public TopologyMonitor(string cluster, HostSlot[] slots, PostgresClusterOptions options, ILogger logger, TimeProvider timeProvider)
    {
        _cluster = cluster;
        _time = timeProvider;
        _slots = slots;
        _options = options;
        _logger = logger;
        _topology = new PostgresTopology(0, slots.Select(s => s.State).ToArray(), -1, false);
        _primaryLostAt = _time.GetTimestamp();
        _splitBrainLog = new SplitBrainLog(cluster, logger, timeProvider);
        _claims = Claims;
        _timelines = new KnownTimelines(slots.Length);
        _prober = new HostProber(cluster, slots, options, timeProvider, logger, Apply, NextProbeIn);
        if (options.PatroniUrls.Count > 0)
        {
            _patroni = new PatroniWatcher(options.PatroniUrls, slots, options, OnPatroniView, logger);
        }
    }

    /// <summary>The latest view.</summary>
    public PostgresTopology Topology => Volatile.Read(ref _topology);

    /// <summary>Index of the host writes go to, or -1.</summary>
    public int PrimaryIndex => Volatile.Read(ref _primaryIndex);

    /// <summary>Completes at the next change of the chosen primary or of any role.</summary>
    public Task Changed => _changed.Task;

    /// <summary>Raised after each change of the chosen primary or of any role.</summary>
    public event Action<PostgresTopology>? TopologyChanged;

    private bool Hunting => Volatile.Read(ref _primaryIndex) < 0 || _time.GetTimestamp() < Volatile.Read(ref _huntUntil);

    public void Start()
    {
        _prober.Start(_stop.Token);
        _patroni?.Start(_stop.Token);
    }

    /// <summary>Completes when every host has been probed once (or <paramref name="timeout"/> passes).</summary>
    public async Task WaitForFirstProbesAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = _time.GetTimestamp() + (long)(timeout.TotalSeconds * _time.TimestampFrequency);
        while (_slots.Any(s => s.State.Role == PostgresRole.Unknown))
        {
            var left = deadline - _time.GetTimestamp();
            if (left <= 0)
            {
                return;
            }

            try
            {
                await Changed.WaitAsync(TimeSpan.FromSeconds((double)left / _time.TimestampFrequency), _time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return;
            }
        }
    }

    /// <summary>A read-your-writes token needs a fresh sample of the primary's WAL position (<see cref="PostgresCluster.CapToken"/>):
    /// probe the primary now, without the fast probing of every host <see cref="RequestProbe"/> starts.</summary>
    public void RequestPrimarySample()
    {
        if (Volatile.Read(ref _primaryIndex) is var i and >= 0)
        {
            _slots[i].Wake.Set();
        }
    }

    /// <summary>A request saw a connection-level failure: probe every host now and keep probing fast for a while.</summary>
    public void RequestProbe()
    {
        Volatile.Write(ref _huntUntil, _time.GetTimestamp() + (long)(3 * _options.ProbeInterval.TotalSeconds * _time.TimestampFrequency));
        foreach (var slot in _slots)
        {
            slot.Wake.Set();
        }
    }

    /// <summary>A request on <paramref name="slot"/> was ended by the server shutting down (<c>57P01 admin_shutdown</c>,
    /// <c>57P02 crash_shutdown</c>, <c>57P03 cannot_connect_now</c>): the primary announces that it is going away (a
    /// switchover, a restart). New writes are held from it at once (within their budget, by the engine's wait for a
    /// primary) instead of being sent to a closing server, and its pooled connections are dropped; the next probe, asked
    /// for now, says what it is. A false alarm (<c>pg_terminate_backend</c> on one session sends the same code) costs a
    /// pool refill and a hold until that probe, a few milliseconds.</summary>
    public void ReportShuttingDown(HostSlot slot)
    {
        var s = slot.State;
        if (s.Role == PostgresRole.Primary)
        {
            Apply(slot, new PostgresHostState(s.Endpoint, PostgresRole.Unknown, s.Timeline, s.WalLsn, null, _time.GetTimestamp(), _time.GetUtcNow(), TimeSpan.Zero, "shutting down (reported by a request)"));
        }

        RequestProbe();
    }

    /// <summary>A write connection reported <c>in_hot_standby=on</c> or a read-only error: this host is no primary.</summary>
    public void ReportNotPrimary(HostSlot slot)
    {
        var s = slot.State;
        Apply(slot, new PostgresHostState(s.Endpoint, PostgresRole.Replica, s.Timeline, s.WalLsn, null, _time.GetTimestamp(), _time.GetUtcNow(), TimeSpan.Zero, "reported read-only by a request"));
        RequestProbe();
    }

    /// <summary>Every host every <see cref="PostgresClusterOptions.FailoverProbeInterval"/> while hunting for a primary;
    /// otherwise the primary every <see cref="PrimarySampleInterval"/> (its WAL position bounds replica staleness) and the
    /// others every <see cref="PostgresClusterOptions.ProbeInterval"/>.</summary>
    internal TimeSpan NextProbeIn(HostSlot slot)
    {
        if (Hunting)
        {
            return _options.FailoverProbeInterval;
        }

        return slot.Index == Volatile.Read(ref _primaryIndex) && _options.ProbeInterval > PrimarySampleInterval ? PrimarySampleInterval : _options.ProbeInterval;
    }

    /// <summary>How often the primary's WAL position is sampled in steady state (or <c>ProbeInterval</c> if shorter).</summary>
    internal static readonly TimeSpan PrimarySampleInterval = TimeSpan.FromMilliseconds(200);

    private void OnPatroniView() => Recompute(null, null);

    internal void Apply(HostSlot slot, PostgresHostState state) => Recompute(slot, state);

    private void Recompute(HostSlot? slot, PostgresHostState? state)
    {
        var signal = false;
        PostgresTopology topology;
        lock (_gate)
        {
            var roleChanged = slot is not null && state is not null && Store(slot, state);

            var (primary, splitBrain) = ChoosePrimary();
            var oldPrimary = _primaryIndex;
            if (primary != oldPrimary)
            {
                // A new primary has its own history. Losing the primary does not erase the old one: replicas stay as
                // current as its last samples show, and age out of the lag bound as time passes.
                if (primary >= 0 && primary != _walHistoryHost)
                {
                    _walHistory.Clear();
                    _walHistoryHost = primary;
                }

                Volatile.Write(ref _primaryIndex, primary);
                OnPrimaryChanged(oldPrimary, primary);
            }

            if (slot is not null && state is not null && slot.Index == primary && state.Role == PostgresRole.Primary && state.WalLsn != 0)
            {
                SamplePrimary(state);
            }

            _splitBrainLog.Observe(splitBrain, _claims, primary >= 0 ? _slots[primary].Name : "none");
            var changed = roleChanged || primary != oldPrimary || splitBrain != _topology.SplitBrain;
            if (changed)
            {
                _version++;
            }

            topology = new PostgresTopology(_version, _slots.Select(s => s.State).ToArray(), primary, splitBrain);
            Volatile.Write(ref _topology, topology);
            if (changed)
            {
                _changed.Pulse();
                signal = true;
            }
        }

        if (signal)
        {
            TopologyChanged?.Invoke(topology);
        }
    }

    /// <summary>Stores a host's new probe (under the lock); whether its role changed.</summary>
    private bool Store(HostSlot slot, PostgresHostState state)
    {
        state = _timelines.Resolve(slot.Index, state);
        if (state.Role == PostgresRole.Replica)
        {
            state.CurrentAsOfTimestamp = _walHistory.CurrentAsOf(state.WalLsn);
        }

        var old = slot.State;
        slot.State = state;
        if (old.Role == state.Role)
        {
            return false;
        }

        OnRoleChanged(slot, old.Role, state.Role);
        return true;
    }

    /// <summary>Records the primary's WAL position (under the lock) and raises every replica's currency with it.</summary>
    private void SamplePrimary(PostgresHostState state)
    {
        _walHistory.Add(state.ProbedAtTimestamp, state.WalLsn);

        // A replica that replayed to R holds everything the primary had whenever the primary stood at or below R,
        // even when that sample is newer than the replica's probe (an idle primary, a replica probed first).
        foreach (var other in _slots)
        {
            var s = other.State;
            if (s.Role == PostgresRole.Replica)
            {
                s.CurrentAsOfTimestamp = Math.Max(s.CurrentAsOfTimestamp, _walHistory.CurrentAsOf(s.WalLsn));
            }
        }
    }

    private string Claims() => string.Join(", ", _slots.Where(s => s.State.Role == PostgresRole.Primary).Select(s => $"{s.Name} (timeline {s.State.Timeline})"));

    /// <summary>The single primary, or the one on the highest timeline when several claim it (none on a tie). A host
    /// Patroni does not name leader is never chosen while Patroni answers.</summary>
    private (int Primary, bool SplitBrain) ChoosePrimary()
    {
        int best = -1, claims = 0, bestTimeline = -1;
        var tie = false;
        for (var i = 0; i < _slots.Length; i++)
        {
            var s = _slots[i].State;
            if (s.Role != PostgresRole.Primary)
            {
                continue;
            }

            claims++;
            if (_slots[i].PatroniVeto)
            {
                continue;
            }

            if (s.Timeline > bestTimeline)
            {
                best = i;
                bestTimeline = s.Timeline;
                tie = false;
            }
            else if (s.Timeline == bestTimeline)
            {
                tie = true;
            }
        }

        var splitBrain = claims > 1;
        if (splitBrain && tie)
        {
            return (-1, true);
        }

        return (best, splitBrain);
    }


    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        foreach (var slot in _slots)
        {
            slot.Wake.Set();
        }

        try
        {
            // A probe thread blocked on a frozen host ends at the driver's own timeout (whole seconds).
            await _prober.Stopped.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Background threads: abandoned.
        }

        if (_patroni is not null)
        {
            await _patroni.DisposeAsync().ConfigureAwait(false);
        }

        _stop.Dispose();
    }
}
