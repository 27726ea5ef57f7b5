using HaClient.Monitoring;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using HaClient.Resilience;
using HaClient.Telemetry;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace HaClient.Redis;

/// <summary>The nodes: verifying a candidate with <c>ROLE</c>, adopting or losing the master, probing roles and offsets.</summary>
internal sealed partial class RedisMonitor
{
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
}
