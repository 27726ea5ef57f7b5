using HaClient.Resilience;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace HaClient.Redis;

/// <summary>
/// Probes a node's <c>ROLE</c>, bounded by <see cref="RedisOptions.ProbeTimeout"/>, with at most one probe in flight per
/// node (a frozen node never has several waiting on it). It writes nothing shared: each result goes to the monitor's
/// <c>apply</c>, which publishes it under the monitor's lock.
/// </summary>
internal sealed partial class RoleProber(RedisOptions options, TimeProvider time, Func<RedisNode, RedisNodeState> current, Action<RedisNode, RedisNodeState> apply, ILogger logger, string cluster, CancellationToken stop)
{
    /// <summary>The node's probe in flight, or a new one.</summary>
    public Task<RedisNodeState> ProbeAsync(RedisNode node)
    {
        lock (node)
        {
            if (node.Probe is { IsCompleted: false } running)
            {
                return running;
            }

            var t = ProbeAndApplyAsync(node);
            node.Probe = t;
            return t;
        }
    }

    /// <summary>A fresh probe of a node. One already seen down whose probe is still pending (frozen) is not waited on for
    /// more than a failover poll interval: the round goes on, so a promotion elsewhere is seen at once.</summary>
    public async Task<RedisNodeState> VerifyAsync(RedisNode node)
    {
        var probe = ProbeAsync(node);
        if (current(node).Role is RedisNodeRole.Down && !probe.IsCompleted)
        {
            try
            {
                return await probe.WaitAsync(options.FailoverProbeInterval, time).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return current(node);
            }
        }

        return await probe.ConfigureAwait(false);
    }

    private async Task<RedisNodeState> ProbeAndApplyAsync(RedisNode node)
    {
        await Task.Yield();
        var state = await ProbeCoreAsync(node).ConfigureAwait(false);
        apply(node, state);
        return state;
    }

    private async Task<RedisNodeState> ProbeCoreAsync(RedisNode node)
    {
        var before = current(node);
        var started = time.GetTimestamp();
        using var cts = new CancellationTokenSource();
        try
        {
            var (role, history) = await Budget.WithinAsync(RoleAsync(node), options.ProbeTimeout, cts, stop).ConfigureAwait(false);
            node.ProbeFailure = null;
            return FromRole(node, role, before, started) is var state && state.Role is RedisNodeRole.Down ? state : WithHistory(state, history);
        }
        catch (Exception e) when (!stop.IsCancellationRequested)
        {
            if (RedisFailureClassifier.IsMisconfiguration(e) && !(node.ProbeFailure is { } previous && RedisFailureClassifier.IsMisconfiguration(previous)))
            {
                // Once when it starts, not at every probe: nothing will succeed on this node until it is fixed.
                LogRefused(logger, cluster, node.Name, e.Message);
            }

            node.ProbeFailure = e;
            return Down(node.Endpoint, before, started, e.GetType().Name);
        }
    }

    private RedisNodeState FromRole(RedisNode node, Role role, RedisNodeState before, long started)
    {
        var endpoint = node.Endpoint;
        var now = time.GetTimestamp();
        var took = time.GetElapsedTime(started, now);
        if (before.Role is RedisNodeRole.Down or RedisNodeRole.Unknown)
        {
            HaClient.Routing.ResponseTime.Reset(ref node.ResponseTicks, took);
        }
        else
        {
            HaClient.Routing.ResponseTime.Record(ref node.ResponseTicks, took);
        }
        switch (role)
        {
            case Role.Master m:
                return new RedisNodeState(endpoint, RedisNodeRole.Primary, m.ReplicationOffset, null, null, now, time.GetUtcNow(), took, null)
                {
                    // Promoted in place: a replica a moment ago (perhaps unreachable for an instant: Sentinel kills client
                    // connections when it promotes), and its offset continues that replica's (a restarted, emptied node
                    // starts again from a lower offset).
                    PromotedFrom = before.Role == RedisNodeRole.Primary ? before.PromotedFrom
                        : before.ReplicaOf is { } from && before.ReplicationOffset >= 0 && m.ReplicationOffset >= before.ReplicationOffset ? from : null,
                    Replicas = m.Replicas.Select(r => new HostEndpoint(r.Ip, r.Port)).ToArray(),
                };
            case Role.Replica r:
                // ROLE reports offset -1 while the replica's link to its primary is down (the primary just crashed). The
                // replica still holds everything up to the offset it last reported from that same primary, so keep that:
                // its data stays readable through the failover window. Not after a Down state (a restarted replica may
                // be empty and resyncing), nor once it follows another primary (that offset belongs to another history).
                var replicaOf = new HostEndpoint(r.MasterIp, r.MasterPort);
                var offset = r.ReplicationOffset >= 0 ? r.ReplicationOffset
                    : before.Role == RedisNodeRole.Replica && before.ReplicaOf == replicaOf ? before.ReplicationOffset : -1;
                return new RedisNodeState(endpoint, RedisNodeRole.Replica, offset, replicaOf, r.State, now, time.GetUtcNow(), took, null);
            default:
                return Down(endpoint, before, started, $"unexpected role {role.Value}");
        }
    }

    private RedisNodeState Down(HostEndpoint endpoint, RedisNodeState before, long started, string error)
    {
        var now = time.GetTimestamp();
        return new RedisNodeState(endpoint, RedisNodeRole.Down, before.ReplicationOffset, before.ReplicaOf, null, now, time.GetUtcNow(), time.GetElapsedTime(started, now), error)
        {
            PromotedFrom = before.PromotedFrom,
            History = before.History,
        };
    }

    /// <summary>The state with the history of the same probe's <c>INFO replication</c>; a history whose role disagrees
    /// with <c>ROLE</c> (the node changed role between the two answers) is left unknown: it proves nothing.</summary>
    private static RedisNodeState WithHistory(RedisNodeState state, ReplicationInfo history)
    {
        if (history.IsPrimary != (state.Role == RedisNodeRole.Primary))
        {
            history = ReplicationInfo.Unknown;
        }

        return new RedisNodeState(state.Endpoint, state.Role, state.ReplicationOffset, state.ReplicaOf, state.LinkState, state.ProbedAtTimestamp, state.ProbedAt, state.ProbeDuration, state.Error)
        {
            PromotedFrom = state.PromotedFrom,
            Replicas = state.Replicas,
            History = history,
        };
    }

    /// <summary><c>ROLE</c> and <c>INFO replication</c>, sent together on the node's connection (one round trip). The
    /// history is only for tokens: when the node refuses the script (scripting denied by an ACL), the role still counts
    /// and the history stays unknown (no replica then proves a token; token reads go to the primary).</summary>
    private static async Task<(Role Role, ReplicationInfo History)> RoleAsync(RedisNode node)
    {
        var mux = await node.GetMultiplexerAsync().ConfigureAwait(false);
        var role = mux.GetServers()[0].RoleAsync();
        var info = ReplicationInfo.ReadAsync(mux.GetDatabase());
        var r = await role.ConfigureAwait(false);
        try
        {
            return (r, await info.ConfigureAwait(false));
        }
        catch (RedisServerException)
        {
            return (r, ReplicationInfo.Unknown);
        }
    }

    [LoggerMessage(EventId = 2013, Level = LogLevel.Error, Message = "Redis {Cluster}: {Endpoint} refuses the credentials ({Reason}); no request can succeed on it until they are fixed")]
    private static partial void LogRefused(ILogger logger, string cluster, string endpoint, string reason);
}
