using HaClient.Monitoring;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using HaClient.Resilience;
using HaClient.Telemetry;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace HaClient.Redis;

/// <summary>
/// Finds and follows the master, per the Redis Sentinel client guidelines: asks the Sentinels
/// (<c>SENTINEL get-master-addr-by-name</c>), verifies the candidate with <c>ROLE</c>, listens for
/// <c>+switch-master</c> on every Sentinel (own connections), and polls as a fallback: every
/// <see cref="RedisOptions.ProbeInterval"/>, every <see cref="RedisOptions.FailoverProbeInterval"/> while no master is
/// known, and at once when a request reports a READONLY reply or a connection failure. Without Sentinels the master is the
/// node whose <c>ROLE</c> says master. Every probe is bounded and each node has at most one probe in flight, so a frozen
/// node never delays the others. Nothing here blocks a thread.
/// </summary>
internal sealed partial class RedisMonitor : IAsyncDisposable
{
    private const int MaxSamples = 256;

    private readonly string _cluster;
    private readonly RedisOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Func<HostEndpoint, RedisNode> _createNode;
    private readonly ConcurrentDictionary<HostEndpoint, RedisNode> _nodes = new();
    private readonly SentinelLink[] _sentinels;
    private readonly ProbeWakeup _wake = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private readonly Queue<(long At, long Offset)> _masterSamples = new();
    private volatile RedisNode[] _nodeList = [];
    private volatile RedisNode? _master;
    private RedisNode? _lastMaster;
    private StrongBox<HostEndpoint>? _hintBox;

    private HostEndpoint? _hint
    {
        get => Volatile.Read(ref _hintBox)?.Value;
        set => Volatile.Write(ref _hintBox, value is { } v ? new StrongBox<HostEndpoint>(v) : null);
    }
    private TaskCompletionSource _changed = NewSignal();
    private TaskCompletionSource _firstRound = NewSignal();
    private long _lastMasterOffset = -1;
    private long _masterLostAt;
    private static readonly TimeSpan SelectionLifetime = TimeSpan.FromSeconds(30);

    /// <summary>How long a master Sentinel is failing over is kept from writes while its replica is promoted; after
    /// that (a failover that went nowhere) it is used again.</summary>
    private static readonly TimeSpan FailoverHold = TimeSpan.FromSeconds(2);
    private SelectedReplica? _selected;
    private Task? _loop;
    private bool _hadMaster;
    private bool _sentinelsSilent;

    public RedisMonitor(string cluster, RedisOptions options, ResolvedRedisSettings settings, Func<HostEndpoint, RedisNode> createNode, Func<HostEndpoint, ConfigurationOptions> sentinelConfig, ILogger logger, TimeProvider timeProvider)
    {
        _cluster = cluster;
        _options = options;
        _logger = logger;
        _time = timeProvider;
        _createNode = createNode;
        foreach (var e in settings.Endpoints)
        {
            GetOrAddNode(e);
        }

        _sentinels = settings.Sentinels.Select(s => new SentinelLink(s, sentinelConfig)).ToArray();
        _masterLostAt = _time.GetTimestamp();
    }

    public bool UsesSentinels => _sentinels.Length > 0;

    public RedisNode? Master => _master;

    public IReadOnlyList<RedisNode> Nodes => _nodeList;

    /// <summary>Completes at the next change of the master (replaced on every change).</summary>
    public Task Changed => Volatile.Read(ref _changed).Task;

    public long LastMasterOffset => Interlocked.Read(ref _lastMasterOffset);

    public void Start() => _loop = Task.Run(() => RunAsync(_stop.Token));

    public Task WaitForFirstRoundAsync(TimeSpan timeout, CancellationToken cancellationToken)
        => _firstRound.Task.WaitAsync(timeout, cancellationToken);

    /// <summary>Asks for a probe round now (a request saw a failure).</summary>
    public void RequestProbe() => _wake.Set();

    /// <summary>A write got READONLY or the master's connection failed: stop sending writes there until it is verified again.</summary>
    public void ReportMasterFailure(RedisNode node, string reason)
    {
        if (ReferenceEquals(_master, node))
        {
            LoseMaster(node, reason);
        }

        RequestProbe();
    }

    /// <summary>Replication lag of <paramref name="node"/> in bytes behind the last known master offset; null when unknown.</summary>
    public long? LagBytes(RedisNode node)
    {
        var s = node.State;
        var m = LastMasterOffset;
        if (s.Role == RedisNodeRole.Master && ReferenceEquals(node, _master))
        {
            return 0;
        }

        if (s.Offset < 0 || m < 0)
        {
            return null;
        }

        return Math.Max(0, m - s.Offset);
    }

    /// <summary>Replication lag in seconds, estimated from the master's offset history: how long ago the master first
    /// passed the replica's offset.</summary>
    public double? LagSeconds(RedisNode node)
    {
        var s = node.State;
        if (s.Role != RedisNodeRole.Replica || s.Offset < 0)
        {
            return s.Role == RedisNodeRole.Master ? 0 : null;
        }

        lock (_gate)
        {
            if (_masterSamples.Count == 0)
            {
                return null;
            }

            foreach (var (at, offset) in _masterSamples)
            {
                if (offset > s.Offset)
                {
                    return Math.Max(0, _time.GetElapsedTime(at, s.ProbedAt).TotalSeconds);
                }
            }
        }

        return 0;
    }

    private async Task RunAsync(CancellationToken stop)
    {
        foreach (var s in _sentinels)
        {
            _ = s.EnsureConnectedAsync(OnSentinelMessage);
        }

        while (!stop.IsCancellationRequested)
        {
            try
            {
                await ProbeRoundAsync(stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                LogRoundFailed(_logger, _cluster, e.GetType().Name, e.Message);
            }

            _firstRound.TrySetResult();
            var master = _master;
            var interval = master is null || master.State.Role != RedisNodeRole.Master || Volatile.Read(ref _selected) is not null ? _options.FailoverProbeInterval : _options.ProbeInterval;
            try
            {
                await _wake.WaitAsync(interval, _time, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private async Task ProbeRoundAsync(CancellationToken stop)
    {
        // Every known node, in parallel; results land in node.State as they arrive.
        foreach (var n in _nodeList)
        {
            _ = ProbeAsync(n);
        }

        RedisNode? chosen;
        if (UsesSentinels)
        {
            chosen = await ChooseFromSentinelsAsync(stop).ConfigureAwait(false);
        }
        else
        {
            chosen = await ChooseByRoleAsync().ConfigureAwait(false);
        }

        if (chosen is not null && !ReferenceEquals(chosen, _master))
        {
            await AdoptAsync(chosen).ConfigureAwait(false);
        }
        else if (chosen is null && _master is { } m)
        {
            LoseMaster(m, "no node verified as master");
        }
    }

    private async Task<RedisNode?> ChooseFromSentinelsAsync(CancellationToken stop)
    {
        var votes = new Dictionary<HostEndpoint, int>();
        var asks = new List<Task<HostEndpoint?>>();
        foreach (var s in _sentinels)
        {
            asks.Add(s.GetMasterAsync(_options.ServiceName!, _options.ProbeTimeout, OnSentinelMessage));
        }

        var answered = 0;
        foreach (var t in asks)
        {
            var e = await t.ConfigureAwait(false);
            if (e is { } ep)
            {
                answered++;
                votes[ep] = votes.GetValueOrDefault(ep) + 1;
            }
        }

        if (_options.FollowPromotedReplica && Volatile.Read(ref _selected) is { } sel)
        {
            // A Sentinel leader is promoting this replica (manual failover or crash): follow it as soon as it says
            // master, even while the old master still accepts writes that the failover would discard.
            if (_time.GetElapsedTime(sel.At) > SelectionLifetime || (votes.Count > 0 && votes.OrderByDescending(kv => kv.Value).First().Key == sel.Replica))
            {
                Interlocked.CompareExchange(ref _selected, null, sel);
            }

            var node = GetOrAddNode(sel.Replica);
            var state = await VerifyAsync(node).ConfigureAwait(false);
            if (state.Role == RedisNodeRole.Master && state.PromotedFrom == sel.From)
            {
                if (!ReferenceEquals(node, _master))
                {
                    LogFollowPromoted(_logger, _cluster, node.Name, sel.From.ToString());
                }

                return node;
            }
        }

        if (_master is { } current && current.State.Role == RedisNodeRole.Master && current.State.PromotedFrom is { } lost && votes.ContainsKey(lost))
        {
            // Already following a promoted replica while (some) Sentinels still name the master it replaced.
            return current;
        }

        var candidates = new List<HostEndpoint>();
        if (_hint is { } hint)
        {
            candidates.Add(hint);
        }

        candidates.AddRange(votes.OrderByDescending(kv => kv.Value).Select(kv => kv.Key).Where(e => !candidates.Contains(e)));
        var held = _options.FollowPromotedReplica && Volatile.Read(ref _selected) is { } hold && _time.GetElapsedTime(hold.At) < FailoverHold ? hold.From : (HostEndpoint?)null;
        foreach (var c in candidates)
        {
            stop.ThrowIfCancellationRequested();
            if (c == held)
            {
                // Being failed over by Sentinel: not a write target while the promotion is under way.
                continue;
            }

            var node = GetOrAddNode(c);
            var state = await VerifyAsync(node).ConfigureAwait(false);
            if (state.Role == RedisNodeRole.Master)
            {
                _hint = null;
                return node;
            }
        }

        if (answered > 0 && _master is null && _options.FollowPromotedReplica && votes.Count > 0)
        {
            // The Sentinels still name the lost master: a failover is under way. Sentinel announces the new master only
            // after it has reconfigured the other replicas (about 1 s after the promotion). A replica of exactly that lost
            // master that now says master (promoted in place, no restart in between) is the one Sentinel promoted:
            // follow it now. Never a node that came back from Down, never the named master itself, never when ambiguous.
            var named = votes.OrderByDescending(kv => kv.Value).First().Key;
            var promoted = _nodeList.Where(n => n.Endpoint != named && n.State.Role == RedisNodeRole.Master && n.State.PromotedFrom == named).ToList();
            if (promoted.Count == 1)
            {
                var state = await VerifyAsync(promoted[0]).ConfigureAwait(false);
                if (state.Role == RedisNodeRole.Master && state.PromotedFrom == named)
                {
                    LogFollowPromoted(_logger, _cluster, promoted[0].Name, named.ToString());
                    return promoted[0];
                }
            }
        }

        var silent = answered == 0;
        if (silent != _sentinelsSilent)
        {
            _sentinelsSilent = silent;
            if (silent)
            {
                LogNoSentinel(_logger, _cluster);
            }
        }

        if (silent)
        {
            // No Sentinel answers: keep the master only while it still says master.
            return _master is { } m && m.State.Role == RedisNodeRole.Master ? m : null;
        }

        return null;
    }

    /// <summary>A fresh probe of a candidate. A node already seen down whose probe is still pending (frozen) is not
    /// waited on for more than a failover poll interval: the round goes on, so a promotion elsewhere is seen at once.</summary>
    private async Task<NodeState> VerifyAsync(RedisNode node)
    {
        var probe = ProbeAsync(node);
        if (node.State.Role is RedisNodeRole.Down && !probe.IsCompleted)
        {
            try
            {
                return await probe.WaitAsync(_options.FailoverProbeInterval).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return node.State;
            }
        }

        return await probe.ConfigureAwait(false);
    }

    private async Task<RedisNode?> ChooseByRoleAsync()
    {
        var nodes = _nodeList;
        var states = new List<(RedisNode Node, NodeState State)>();
        foreach (var n in nodes)
        {
            states.Add((n, await VerifyAsync(n).ConfigureAwait(false)));
        }

        var masters = states.Where(s => s.State.Role == RedisNodeRole.Master).ToList();
        if (masters.Count > 1)
        {
            LogSplitBrain(_logger, _cluster, string.Join(", ", masters.Select(m => m.Node.Name)));
        }

        return masters.OrderByDescending(s => s.State.Replicas.Count).ThenByDescending(s => s.State.Offset).Select(s => s.Node).FirstOrDefault();
    }

    private async Task AdoptAsync(RedisNode node)
    {
        // The node's multiplexer may still believe it is a replica (it was one when it connected): make it re-read the
        // role, or reconnect, before any write is routed to it.
        var cts = new CancellationTokenSource();
        try
        {
            var mux = await Budget.WithinAsync(node.GetMultiplexerAsync(), _options.ProbeTimeout, cts, CancellationToken.None).ConfigureAwait(false);
            if (IsReplicaView(mux))
            {
                await Budget.WithinAsync(mux.ConfigureAsync(), _options.ProbeTimeout, cts, CancellationToken.None).ConfigureAwait(false);
                if (IsReplicaView(mux))
                {
                    node.ResetConnection();
                    mux = await Budget.WithinAsync(node.GetMultiplexerAsync(), _options.ProbeTimeout, cts, CancellationToken.None).ConfigureAwait(false);
                    if (IsReplicaView(mux))
                    {
                        LogAdoptFailed(_logger, _cluster, node.Name, "its connection still reports a replica");
                        return;
                    }
                }
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !_stop.IsCancellationRequested)
        {
            LogAdoptFailed(_logger, _cluster, node.Name, e.GetType().Name);
            return;
        }
        finally
        {
            cts.Dispose();
        }

        await node.Circuit.ResetAsync().ConfigureAwait(false);
        var old = _master;
        _master = node;
        var lostFor = _time.GetElapsedTime(Interlocked.Read(ref _masterLostAt));
        if (_hadMaster && !ReferenceEquals(_lastMaster, node))
        {
            HaClientTelemetry.Failovers.Add(1, new KeyValuePair<string, object?>("haclient.cluster", _cluster));
            HaClientTelemetry.FailoverDuration.Record(lostFor.TotalSeconds, new KeyValuePair<string, object?>("haclient.cluster", _cluster));
        }

        _hadMaster = true;
        LogMasterChosen(_logger, _cluster, node.Name, old?.Name ?? "(none)");
        var previous = _lastMaster;
        _lastMaster = node;
        if (previous is not null && !ReferenceEquals(previous, node))
        {
            // Drop every connection to the old master: anything still in flight there ends now instead of waiting out
            // its budget; the node reconnects afresh (as a replica) on its next probe.
            previous.ResetConnection();
        }

        Signal();
    }

    private static bool IsReplicaView(ConnectionMultiplexer mux)
    {
        var servers = mux.GetServers();
        return servers.Length == 0 || !servers[0].IsConnected || servers[0].IsReplica;
    }

    private void LoseMaster(RedisNode node, string reason)
    {
        if (Interlocked.CompareExchange(ref _master, null, node) == node)
        {
            Interlocked.Exchange(ref _masterLostAt, _time.GetTimestamp());
            LogMasterLost(_logger, _cluster, node.Name, reason);
            Signal();
        }
    }

    private void Signal()
    {
        var old = Interlocked.Exchange(ref _changed, NewSignal());
        old.TrySetResult();
    }

    /// <summary>Probes a node's ROLE (bounded by ProbeTimeout), reusing a probe already in flight.</summary>
    private Task<NodeState> ProbeAsync(RedisNode node)
    {
        lock (node)
        {
            if (node.Probe is { IsCompleted: false } running)
            {
                return running;
            }

            var t = ProbeCoreAsync(node);
            node.Probe = t;
            return t;
        }
    }

    private async Task<NodeState> ProbeCoreAsync(RedisNode node)
    {
        await Task.Yield();
        var before = node.State;
        NodeState after;
        var cts = new CancellationTokenSource();
        try
        {
            var role = await Budget.WithinAsync(RoleAsync(node), _options.ProbeTimeout, cts, _stop.Token).ConfigureAwait(false);
            var now = _time.GetTimestamp();
            switch (role)
            {
                case Role.Master m:
                    var replicas = m.Replicas.Select(r => new HostEndpoint(r.Ip, r.Port)).ToArray();
                    after = new NodeState(RedisNodeRole.Master, m.ReplicationOffset, now, null, replicas, null)
                    {
                        // Promoted in place: a replica a moment ago (perhaps unreachable for an instant: Sentinel kills
                        // client connections when it promotes), and its offset continues that replica's (a restarted,
                        // emptied node starts again from a lower offset).
                        PromotedFrom = before.Role == RedisNodeRole.Master ? before.PromotedFrom
                            : before.MasterOf is { } from && before.Offset >= 0 && m.ReplicationOffset >= before.Offset ? from : null,
                    };
                    if (ReferenceEquals(node, _master) || _master is null)
                    {
                        RecordMasterOffset(now, m.ReplicationOffset);
                    }

                    foreach (var r in replicas)
                    {
                        GetOrAddNode(r);
                    }

                    break;
                case Role.Replica r:
                    // ROLE reports offset -1 while the replica's link to its master is down (the master just crashed).
                    // The replica still holds everything up to the offset it last reported, so keep that: its data
                    // stays readable through the failover window. Not after a Down state: a restarted replica may be
                    // empty and resyncing.
                    var offset = r.ReplicationOffset >= 0 ? r.ReplicationOffset : before.Role == RedisNodeRole.Replica ? before.Offset : -1;
                    after = new NodeState(RedisNodeRole.Replica, offset, now, r.State, [], null) { MasterOf = new HostEndpoint(r.MasterIp, r.MasterPort) };
                    break;
                default:
                    after = new NodeState(RedisNodeRole.Down, before.Offset, now, null, [], $"unexpected role {role.Value}") { MasterOf = before.MasterOf, PromotedFrom = before.PromotedFrom };
                    break;
            }
        }
        catch (Exception e) when (!_stop.IsCancellationRequested)
        {
            after = new NodeState(RedisNodeRole.Down, before.Offset, _time.GetTimestamp(), null, [], e.GetType().Name) { MasterOf = before.MasterOf, PromotedFrom = before.PromotedFrom };
            LogProbeFailed(_logger, _cluster, node.Name, e.GetType().Name);
        }
        finally
        {
            cts.Dispose();
        }

        node.State = after;
        if (before.Role != after.Role)
        {
            HaClientTelemetry.RoleChanges.Add(1, new("haclient.cluster", _cluster), new("haclient.endpoint", node.Name), new("haclient.role", RoleName(after.Role)));
            LogRoleChanged(_logger, _cluster, node.Name, before.Role, after.Role);
            RequestProbe();
            if (ReferenceEquals(node, _master) && after.Role != RedisNodeRole.Master)
            {
                LoseMaster(node, $"its ROLE probe says {RoleName(after.Role)}");
                RequestProbe();
            }
        }

        return after;
    }

    private static async Task<Role> RoleAsync(RedisNode node)
    {
        var mux = await node.GetMultiplexerAsync().ConfigureAwait(false);
        return await mux.GetServers()[0].RoleAsync().ConfigureAwait(false);
    }

    private void RecordMasterOffset(long at, long offset)
    {
        Interlocked.Exchange(ref _lastMasterOffset, offset);
        lock (_gate)
        {
            _masterSamples.Enqueue((at, offset));
            while (_masterSamples.Count > MaxSamples)
            {
                _masterSamples.Dequeue();
            }
        }
    }

    private RedisNode GetOrAddNode(HostEndpoint endpoint)
    {
        if (_nodes.TryGetValue(endpoint, out var n))
        {
            return n;
        }

        lock (_gate)
        {
            if (_nodes.TryGetValue(endpoint, out n))
            {
                return n;
            }

            n = _createNode(endpoint);
            n.ConnectionEvent = _ => RequestProbe();
            _nodes[endpoint] = n;
            _nodeList = [.. _nodeList, n];
        }

        // Learned from a master's ROLE or a Sentinel: probe it now rather than at the next round.
        _ = ProbeAsync(n);
        return n;
    }

    private void OnSentinelMessage(RedisChannel channel, RedisValue message)
    {
        var parts = ((string?)message ?? string.Empty).Split(' ');
        if (channel == SentinelLink.SelectedReplica)
        {
            // "+selected-slave slave <ip:port> <ip> <port> @ <name> <master-ip> <master-port>"
            if (parts.Length >= 8 && parts[0] == "slave" && parts[5] == _options.ServiceName
                && int.TryParse(parts[3], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var rport)
                && int.TryParse(parts[7], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var mport))
            {
                var selected = new HostEndpoint(parts[2], rport);
                var from = new HostEndpoint(parts[6], mport);
                Volatile.Write(ref _selected, new SelectedReplica(selected, from, _time.GetTimestamp()));
                LogSelectedReplica(_logger, _cluster, selected.ToString(), from.ToString());
                if (_options.FollowPromotedReplica && _master is { } m && m.Endpoint == from)
                {
                    // A manual failover leaves the old master writable until Sentinel demotes it, and whatever it acks
                    // after the promotion is discarded. Hold writes (within their budget) until the promotion instead.
                    LoseMaster(m, "Sentinel is failing it over");
                }

                RequestProbe();
            }

            return;
        }

        // "+switch-master <name> <old-ip> <old-port> <new-ip> <new-port>"
        if (parts.Length >= 5 && parts[0] == _options.ServiceName
            && int.TryParse(parts[4], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port))
        {
            _hint = new HostEndpoint(parts[3], port);
            LogSwitchMaster(_logger, _cluster, $"{parts[1]}:{parts[2]}", _hint.Value.ToString());
            if (_master is { } m && m.Endpoint != _hint.Value)
            {
                LoseMaster(m, "+switch-master");
            }

            RequestProbe();
        }
    }

    internal static string RoleName(RedisNodeRole role) => role switch
    {
        RedisNodeRole.Master => "master",
        RedisNodeRole.Replica => "replica",
        RedisNodeRole.Down => "down",
        _ => "unknown",
    };

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            try
            {
                await _loop.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            }
            catch (Exception)
            {
            }
        }

        foreach (var s in _sentinels)
        {
            await s.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var n in _nodeList)
        {
            await n.DisposeAsync().ConfigureAwait(false);
        }

        _stop.Dispose();
    }

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Redis {Cluster}: node {Endpoint} changed role from {From} to {To}")]
    private static partial void LogRoleChanged(ILogger logger, string cluster, string endpoint, RedisNodeRole from, RedisNodeRole to);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Warning, Message = "Redis {Cluster}: master {Endpoint} lost ({Reason}); probing fast until a master is verified")]
    private static partial void LogMasterLost(ILogger logger, string cluster, string endpoint, string reason);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "Redis {Cluster}: writes now go to master {Endpoint} (was {Old})")]
    private static partial void LogMasterChosen(ILogger logger, string cluster, string endpoint, string old);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Error, Message = "Redis {Cluster}: several nodes claim master: {Claims}")]
    private static partial void LogSplitBrain(ILogger logger, string cluster, string claims);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Debug, Message = "Redis {Cluster}: probe of {Endpoint} failed: {Error}")]
    private static partial void LogProbeFailed(ILogger logger, string cluster, string endpoint, string error);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Information, Message = "Redis {Cluster}: Sentinel announced +switch-master {Old} -> {New}")]
    private static partial void LogSwitchMaster(ILogger logger, string cluster, string old, string @new);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Warning, Message = "Redis {Cluster}: no Sentinel answered; keeping the master only while its ROLE says master")]
    private static partial void LogNoSentinel(ILogger logger, string cluster);

    [LoggerMessage(EventId = 2009, Level = LogLevel.Information, Message = "Redis {Cluster}: replica {Endpoint} of the lost master {Lost} was promoted; following it before the Sentinels announce it")]
    private static partial void LogFollowPromoted(ILogger logger, string cluster, string endpoint, string lost);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Information, Message = "Redis {Cluster}: Sentinel selected replica {Endpoint} to replace master {Master}; probing fast")]
    private static partial void LogSelectedReplica(ILogger logger, string cluster, string endpoint, string master);

    private sealed record SelectedReplica(HostEndpoint Replica, HostEndpoint From, long At);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Warning, Message = "Redis {Cluster}: could not switch writes to {Endpoint} yet: {Error}")]
    private static partial void LogAdoptFailed(ILogger logger, string cluster, string endpoint, string error);

    [LoggerMessage(EventId = 2008, Level = LogLevel.Warning, Message = "Redis {Cluster}: probe round failed: {Error} {Message}")]
    private static partial void LogRoundFailed(ILogger logger, string cluster, string error, string message);
}
