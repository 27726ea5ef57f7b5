using HaClient.Monitoring;
using HaClient.Telemetry;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace HaClient.Redis;

/// <summary>
/// Finds and follows the primary, per the Redis Sentinel client guidelines, and publishes what it knows as an immutable,
/// versioned <see cref="RedisTopology"/>. Each round probes every node's <c>ROLE</c> (<see cref="RoleProber"/>) and asks
/// the Sentinels (<see cref="SentinelDiscovery"/>) at once, then lets <see cref="MasterElection"/> choose; rounds run every
/// <see cref="RedisOptions.ProbeInterval"/>, every <see cref="RedisOptions.FailoverProbeInterval"/> while no primary is
/// known, and at once on a Sentinel message, a role change or a request's report. One lock guards every field; nothing
/// here blocks a thread.
/// </summary>
internal sealed partial class RedisTopologyMonitor : IAsyncDisposable
{
    private readonly string _cluster;
    private readonly RedisOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Func<HostEndpoint, RedisNode> _createNode;
    private readonly SentinelDiscovery? _sentinels;
    private readonly RoleProber _prober;
    private readonly ProbeWakeup _wake = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private readonly PrimaryOffsetHistory _history = new();

    // Everything below is written only under _gate.
    private RedisNode[] _nodes = [];
    private RedisNodeState[] _states = [];
    private int _primary = -1;
    private int _reference = -1;
    private long _referenceOffset = -1;
    private long _version;
    private RedisTopology _topology = RedisTopology.Empty;
    private readonly TopologyChangeSignal _changed = new();
    private HostEndpoint? _hint;
    private (HostEndpoint Replica, HostEndpoint From, long At)? _promotion;
    private long _primaryLostAt;
    private Task? _loop;

    public RedisTopologyMonitor(string cluster, RedisOptions options, ResolvedRedisSettings settings, Func<HostEndpoint, RedisNode> createNode, Func<HostEndpoint, ConfigurationOptions> sentinelConfig, ILogger logger, TimeProvider timeProvider)
    {
        _cluster = cluster;
        _options = options;
        _logger = logger;
        _time = timeProvider;
        _createNode = createNode;
        _prober = new RoleProber(options, timeProvider, StateOf, Apply, logger, cluster, _stop.Token);
        if (settings.Sentinels.Count > 0)
        {
            _sentinels = new SentinelDiscovery(settings.Sentinels, sentinelConfig, options.ServiceName!, options.ProbeTimeout, OnSwitchMaster, OnSelectedReplica);
        }

        _primaryLostAt = _time.GetTimestamp();
        lock (_gate)
        {
            foreach (var e in settings.Endpoints)
            {
                AddNode(e);
            }

            Publish(false);
        }
    }

    /// <summary>The latest view.</summary>
    public RedisTopology Topology => Volatile.Read(ref _topology);

    /// <summary>Completes at the next change of the primary or of any role (replaced on every change).</summary>
    public Task Changed => _changed.Task;

    /// <summary>Raised (outside the lock) after each change of the primary or of any role.</summary>
    public event Action<RedisTopology>? TopologyChanged;

    public void Start()
    {
        _sentinels?.Start();
        var rounds = new ElectionRounds(this, _prober, _sentinels, _options, _wake, _time, _logger, _cluster);
        _loop = Task.Run(() => rounds.RunAsync(_stop.Token));
    }

    /// <summary>Asks for a probe round now (a request saw a failure).</summary>
    public void RequestProbe() => _wake.Set();

    /// <summary>A write got READONLY or the primary's connection failed: stop sending writes there until it is verified
    /// again.</summary>
    public void ReportPrimaryFailure(RedisNode node, string reason)
    {
        Signal(() => _primary >= 0 && ReferenceEquals(_nodes[_primary], node) && Lose(reason));
        RequestProbe();
    }

    /// <summary>Replication lag of the node at <paramref name="index"/> in seconds, from the primary's offset history:
    /// how long before its probe the primary first passed its offset; null when unknown.</summary>
    public double? LagSeconds(int index)
    {
        var t = Topology;
        var s = t.States[index];
        if (t.GetLagBytes(index) is not { } lag)
        {
            return null;
        }

        if (lag == 0)
        {
            return 0;
        }

        long passedAt;
        lock (_gate)
        {
            passedAt = _history.FirstPast(s.ReplicationOffset);
        }

        return passedAt == 0 ? null : Math.Max(0, _time.GetElapsedTime(passedAt, s.ProbedAtTimestamp).TotalSeconds);
    }

    /// <summary>Loses the primary (under the lock). Returns true (a change to publish).</summary>
    private bool Lose(string reason)
    {
        LogPrimaryLost(_logger, _cluster, _nodes[_primary].Name, reason);
        _primary = -1;
        _primaryLostAt = _time.GetTimestamp();
        return true;
    }

    private RedisNodeState StateOf(RedisNode node)
    {
        var t = Topology;
        var i = Array.IndexOf(t.Links, node);
        return i >= 0 ? t.States[i] : RedisNodeState.Initial(node.Endpoint);
    }

    /// <summary>A probe's result (on the probe's thread).</summary>
    private void Apply(RedisNode node, RedisNodeState state)
    {
        var roleChanged = false;
        Signal(() =>
        {
            var i = Array.IndexOf(_nodes, node);
            if (i < 0)
            {
                return false;
            }

            var before = _states[i];
            var states = (RedisNodeState[])_states.Clone();
            state.Circuit = node.Circuit;
            state.Node = node;
            states[i] = state;
            _states = states;
            if (i == _reference && state.Role == RedisNodeRole.Primary && state.ReplicationOffset >= 0)
            {
                _referenceOffset = state.ReplicationOffset;
                _history.Add(state.ProbedAtTimestamp, state.ReplicationOffset);
            }

            roleChanged = before.Role != state.Role;
            if (!roleChanged)
            {
                Publish(false);
            }
            else
            {
                HaClientTelemetry.RoleChanges.Add(1, new("haclient.cluster", _cluster), new("haclient.endpoint", node.Name), new("haclient.role", RoleName(state.Role)));
                LogRoleChanged(_logger, _cluster, node.Name, before.Role, state.Role);
                if (i == _primary && state.Role != RedisNodeRole.Primary)
                {
                    Lose($"its ROLE probe says {RoleName(state.Role)}");
                }
            }

            return roleChanged;
        });

        // A primary's replicas are nodes to follow too.
        LearnNodes(state.Replicas);
        if (roleChanged)
        {
            if (state.Role == RedisNodeRole.Down && node.Circuit.AbandonInFlight() is var abandoned and > 0)
            {
                // Its callers would otherwise wait out their whole budgets on a node that no longer answers.
                LogAbandoned(_logger, _cluster, node.Name, abandoned);
            }

            RequestProbe();
        }
    }

    private void OnSwitchMaster(HostEndpoint old, HostEndpoint @new)
    {
        LogSwitchMaster(_logger, _cluster, old.ToString(), @new.ToString());
        LearnNodes([@new]);
        Signal(() =>
        {
            _hint = @new;
            return _primary >= 0 && _nodes[_primary].Endpoint != @new && Lose("+switch-master");
        });
        RequestProbe();
    }

    private void OnSelectedReplica(HostEndpoint replica, HostEndpoint from)
    {
        LogSelectedReplica(_logger, _cluster, replica.ToString(), from.ToString());
        LearnNodes([replica]);

        // A manual failover leaves the old primary writable until Sentinel demotes it, and whatever it acknowledges after
        // the promotion is discarded. Hold writes (within their budget) until the promotion instead.
        Signal(() =>
        {
            _promotion = (replica, from, _time.GetTimestamp());
            return _options.FollowPromotedReplica && _primary >= 0 && _nodes[_primary].Endpoint == from && Lose("Sentinel is failing it over");
        });
        RequestProbe();
    }

    /// <summary>Adds the endpoints not known yet, and probes them now rather than at the next round.</summary>
    internal void LearnNodes(IEnumerable<HostEndpoint> endpoints)
    {
        List<RedisNode>? added = null;
        lock (_gate)
        {
            foreach (var e in endpoints)
            {
                if (!_states.Any(s => s.Endpoint == e))
                {
                    (added ??= []).Add(AddNode(e));
                }
            }

            if (added is not null)
            {
                Publish(false);
            }
        }

        foreach (var n in added ?? [])
        {
            _ = _prober.ProbeAsync(n);
        }
    }

    /// <summary>Adds a node (under the lock; the caller publishes).</summary>
    private RedisNode AddNode(HostEndpoint endpoint)
    {
        var n = _createNode(endpoint);
        n.ConnectionEvent = _ => RequestProbe();
        _nodes = [.. _nodes, n];
        var initial = RedisNodeState.Initial(endpoint);
        initial.Circuit = n.Circuit;
        initial.Node = n;
        _states = [.. _states, initial];
        return n;
    }

    /// <summary>Runs <paramref name="change"/> under the lock; publishes the new view, and when it returns true (a change
    /// of the primary or of a role), a new version, then signals the waiters and the event outside the lock.</summary>
    private void Signal(Func<bool> change)
    {
        RedisTopology topology;
        lock (_gate)
        {
            var changed = change();
            if (!changed)
            {
                return;
            }

            topology = Publish(true);
            _changed.Pulse();
        }

        TopologyChanged?.Invoke(topology);
    }

    private RedisTopology Publish(bool newVersion)
    {
        if (newVersion)
        {
            _version++;
        }

        var t = new RedisTopology(_version, _nodes, _states, _primary, _reference, _referenceOffset);
        Volatile.Write(ref _topology, t);
        return t;
    }

    internal static string RoleName(RedisNodeRole role) => role switch
    {
        RedisNodeRole.Primary => "primary",
        RedisNodeRole.Replica => "replica",
        RedisNodeRole.Down => "down",
        _ => "unknown",
    };


    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            try
            {
                await _loop.WaitAsync(TimeSpan.FromSeconds(5), _time).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Abandoned: every step is bounded, so it ends by itself.
            }
        }

        if (_sentinels is not null)
        {
            await _sentinels.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var n in Topology.Links)
        {
            await n.DisposeAsync().ConfigureAwait(false);
        }

        _stop.Dispose();
    }
}
