using HaClient.Monitoring;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using HaClient.Resilience;
using HaClient.Telemetry;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace HaClient.Redis;

/// <summary>Sentinel discovery: asking the Sentinels for the master, and their <c>+switch-master</c> messages.</summary>
internal sealed partial class RedisMonitor
{
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
}
