using HaClient.Resilience;
using StackExchange.Redis;

namespace HaClient.Redis;

/// <summary>The outcome of one node's probe: its answer (null shards when it failed) and when and how long.</summary>
internal readonly record struct ClusterProbe(ClusterAnswer Answer, long At, DateTimeOffset AtUtc, TimeSpan Took, string? Error);

/// <summary>
/// Asks one cluster node for its <c>CLUSTER SHARDS</c> view, bounded by <see cref="RedisOptions.ProbeTimeout"/>, with at
/// most one probe in flight per node (a frozen node never has several waiting on it; a round waits for a pending one at
/// most <see cref="RedisOptions.FailoverProbeInterval"/> once the node is known down). The node's own connection runs
/// with the <c>CLUSTER</c> command disabled, so that StackExchange.Redis never turns it into a connection to the whole
/// cluster with a slot map of its own; the probe therefore runs <c>CLUSTER SHARDS</c> inside a read-only script.
/// </summary>
internal sealed class ClusterProber(RedisOptions options, TimeProvider time, CancellationToken stop)
{
    // The shards and the node's replication history (for read-your-writes tokens) in one atomic answer.
    private const string Script = "return {redis.call('CLUSTER', 'SHARDS'), redis.call('INFO', 'replication')}";
    private readonly Dictionary<RedisNode, Task<ClusterProbe>> _inFlight = [];
    private readonly Dictionary<RedisNode, ClusterProbe> _last = [];

    public async Task<ClusterProbe> ProbeAsync(RedisNode node)
    {
        Task<ClusterProbe> task;
        bool wasDown;
        lock (_inFlight)
        {
            wasDown = _last.TryGetValue(node, out var last) && last.Error is not null;
            if (!_inFlight.TryGetValue(node, out task!) || task.IsCompleted)
            {
                task = ProbeCoreAsync(node);
                _inFlight[node] = task;
            }
        }

        ClusterProbe result;
        if (wasDown && !task.IsCompleted)
        {
            try
            {
                result = await task.WaitAsync(options.FailoverProbeInterval, time).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                lock (_inFlight)
                {
                    return _last[node];
                }
            }
        }
        else
        {
            result = await task.ConfigureAwait(false);
        }

        lock (_inFlight)
        {
            _last[node] = result;
        }

        return result;
    }

    private async Task<ClusterProbe> ProbeCoreAsync(RedisNode node)
    {
        await Task.Yield();
        var started = time.GetTimestamp();
        using var cts = new CancellationTokenSource();
        try
        {
            var (shards, history) = await Budget.WithinAsync(ShardsAsync(node), options.ProbeTimeout, cts, stop, time).ConfigureAwait(false);
            node.ProbeFailure = null;
            return Done(node, shards, started, null) with { Answer = new ClusterAnswer(node.Endpoint, shards) { History = history } };
        }
        catch (Exception e) when (!stop.IsCancellationRequested)
        {
            node.ProbeFailure = e;
            return Done(node, null, started, e is ClusterSeedException ? "not a cluster node" : e.GetType().Name);
        }
    }

    private ClusterProbe Done(RedisNode node, IReadOnlyList<ShardInfo>? shards, long started, string? error)
    {
        var now = time.GetTimestamp();
        return new ClusterProbe(new ClusterAnswer(node.Endpoint, shards), now, time.GetUtcNow(), time.GetElapsedTime(started, now), error);
    }

    private async Task<(IReadOnlyList<ShardInfo> Shards, ReplicationInfo History)> ShardsAsync(RedisNode node)
    {
        var mux = await node.GetMultiplexerAsync().ConfigureAwait(false);
        var server = mux.GetServers()[0];
        if (server.IsConnected && server.ServerType is ServerType.Sentinel)
        {
            throw new ClusterSeedException($"{node.Name} is a Redis Sentinel, not a Redis Cluster node, and Cluster is set.");
        }

        RedisResult reply;
        try
        {
            reply = await mux.GetDatabase().ExecuteAsync("EVAL_RO", Script, 0).ConfigureAwait(false);
        }
        catch (RedisServerException e) when (e.Message.Contains("cluster support disabled", StringComparison.OrdinalIgnoreCase))
        {
            throw new ClusterSeedException($"{node.Name} is a standalone Redis node (cluster support disabled), not a Redis Cluster node, and Cluster is set.");
        }
        catch (RedisServerException e) when (e.Message.Contains("unknown command", StringComparison.OrdinalIgnoreCase))
        {
            throw new ClusterSeedException($"{node.Name} does not run Redis Cluster 7 (it does not know EVAL_RO / CLUSTER SHARDS), and Cluster is set.");
        }
        catch (RedisConnectionException e) when (RefusesBasicCommands(e))
        {
            // A Sentinel refuses the data commands StackExchange.Redis's handshake sends (ECHO): it never connects.
            throw new ClusterSeedException($"{node.Name} answers like a Redis Sentinel (it refuses data commands such as ECHO), not a Redis Cluster node, and Cluster is set.");
        }

        if (reply.Resp2Type != ResultType.Array || reply.Length != 2)
        {
            throw new FormatException("The cluster probe script answered no (shards, replication) pair.");
        }

        return (ClusterShardsReply.Parse(reply[0], options.Tls.Enabled), ReplicationInfo.Parse((string?)reply[1]));
    }

    private static bool RefusesBasicCommands(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is RedisServerException && e.Message.Contains("unknown command", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The state of <paramref name="node"/> from its probe: its own view of its role and offset; Down when it
    /// did not answer (its offset kept); a replica of <paramref name="shardPrimary"/> when it names itself a replica.</summary>
    public RedisNodeState StateOf(RedisNode node, ClusterProbe? probe, HostEndpoint? shardPrimary)
    {
        if (probe is not { } p)
        {
            return RedisNodeState.Initial(node.Endpoint);
        }

        if (p.Answer.Shards is null)
        {
            return new RedisNodeState(node.Endpoint, RedisNodeRole.Down, -1, null, null, p.At, p.AtUtc, p.Took, p.Error);
        }

        var offset = ClusterView.SelfOffset(p.Answer);
        var primary = ClusterView.SelfIsPrimary(p.Answer);

        // The history proves something only when it agrees with the node's own role in the same answer.
        var history = p.Answer.History.IsPrimary == primary ? p.Answer.History : ReplicationInfo.Unknown;
        return primary
            ? new RedisNodeState(node.Endpoint, RedisNodeRole.Primary, offset, null, null, p.At, p.AtUtc, p.Took, null) { History = history }
            : new RedisNodeState(node.Endpoint, RedisNodeRole.Replica, offset, shardPrimary, null, p.At, p.AtUtc, p.Took, null) { History = history };
    }
}

/// <summary>A seed is no Redis Cluster node (a Sentinel, a standalone node) while <see cref="RedisOptions.Cluster"/> is set.</summary>
internal sealed class ClusterSeedException(string message) : Exception(message);
