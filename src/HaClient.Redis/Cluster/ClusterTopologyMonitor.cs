using HaClient.Monitoring;
using HaClient.Resilience;
using HaClient.Telemetry;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace HaClient.Redis;

/// <summary>
/// Follows a Redis Cluster and publishes what it knows as an immutable, versioned <see cref="RedisTopology"/> with its
/// <see cref="RedisTopology.Shards"/>. Each round asks every known node for its <c>CLUSTER SHARDS</c> view at once
/// (<see cref="ClusterProber"/>, bounded by <see cref="RedisOptions.ProbeTimeout"/>), merges the answers
/// (<see cref="ClusterView"/>) and publishes under one lock. Rounds run every <see cref="RedisOptions.ProbeInterval"/>,
/// every <see cref="RedisOptions.FailoverProbeInterval"/> while a shard has no verified primary, and at once on a
/// connection failure, a MOVED/TRYAGAIN/CLUSTERDOWN reply or a failed call. A shard's new primary is published only
/// once its own connection sees it as a primary, so writes go straight to it. Nothing here blocks a thread.
/// </summary>
internal sealed partial class ClusterTopologyMonitor : IAsyncDisposable
{
    private readonly string _cluster;
    private readonly RedisOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Func<HostEndpoint, RedisNode> _createNode;
    private readonly IReadOnlyList<HostEndpoint> _seeds;
    private readonly ClusterProber _prober;
    private readonly ProbeWakeup _wake = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();

    // Written only under _gate.
    private readonly List<RedisNode> _nodes = [];
    private readonly Dictionary<string, long> _lastPrimaryOffset = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HostEndpoint> _lastPrimary = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _lostAt = new(StringComparer.Ordinal);
    private RedisTopology _topology = RedisTopology.Empty;
    private readonly TopologyChangeSignal _changed = new();
    private long _version;
    private string _signature = "";
    private Task? _loop;

    public ClusterTopologyMonitor(string cluster, RedisOptions options, IReadOnlyList<HostEndpoint> seeds, Func<HostEndpoint, RedisNode> createNode, ILogger logger, TimeProvider timeProvider)
    {
        _cluster = cluster;
        _options = options;
        _logger = logger;
        _time = timeProvider;
        _createNode = createNode;
        _seeds = seeds;
        _prober = new ClusterProber(options, timeProvider, _stop.Token);
        lock (_gate)
        {
            foreach (var s in seeds)
            {
                NodeFor(s);
            }
        }
    }

    /// <summary>The latest view.</summary>
    public RedisTopology Topology => Volatile.Read(ref _topology);

    /// <summary>Completes at the next change of any shard's primary or of any node's role (replaced on every change).</summary>
    public Task Changed => _changed.Task;

    /// <summary>Raised (outside the lock) after each change of a shard's primary or of any node's role.</summary>
    public event Action<RedisTopology>? TopologyChanged;

    /// <summary>Why the seeds cannot be used, naming the setting, when every seed that answered is no Redis Cluster node
    /// (a Sentinel, a standalone node); null otherwise.</summary>
    public IReadOnlyList<string>? SeedErrors()
    {
        var errors = new List<string>();
        for (var i = 0; i < _seeds.Count; i++)
        {
            RedisNode? node;
            lock (_gate)
            {
                node = _nodes.Find(n => n.Endpoint == _seeds[i]);
            }

            if (node?.ProbeFailure is ClusterSeedException e)
            {
                errors.Add($"Endpoints[{i}]: {e.Message}");
            }
        }

        return errors.Count > 0 && errors.Count == _seeds.Count ? errors : null;
    }

    public void Start() => _loop = Task.Run(() => RunAsync(_stop.Token));

    /// <summary>Probe every node now.</summary>
    public void RequestProbe() => _wake.Set();

    /// <summary>A call on <paramref name="node"/> failed, or its connection dropped: probe now.</summary>
    public void ReportFailure(RedisNode node, string reason)
    {
        LogFailure(_logger, _cluster, node.Name, reason);
        _wake.Set();
    }

    private async Task RunAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            var fast = true;
            try
            {
                fast = await RoundAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (!stop.IsCancellationRequested)
            {
                LogRoundFailed(_logger, _cluster, e.GetType().Name);
            }
            catch (Exception)
            {
                // Disposed during the round: a probe cut off by the stop.
                return;
            }

            try
            {
                await _wake.WaitAsync(fast ? _options.FailoverProbeInterval : _options.ProbeInterval, _time, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>One round: every node's view, merged and published. Returns whether to poll fast (a shard without a
    /// verified primary, or no shard at all).</summary>
    private async Task<bool> RoundAsync()
    {
        RedisNode[] nodes;
        lock (_gate)
        {
            nodes = [.. _nodes];
        }

        var probes = await Task.WhenAll(nodes.Select(_prober.ProbeAsync)).ConfigureAwait(false);
        var answers = Array.ConvertAll(probes, p => p.Answer);
        var merged = ClusterView.Merge(answers);

        // A newly chosen primary is published once its own connection sees it as one (it may still believe the node is
        // the replica it was when it connected); until then the shard waits, which a write does within its budget.
        var ready = new HashSet<HostEndpoint>();
        foreach (var shard in merged)
        {
            if (shard.Primary is { } p && !IsPublishedPrimary(shard.Slots, p))
            {
                RedisNode node;
                lock (_gate)
                {
                    node = NodeFor(p);
                }

                if (await node.EnsurePrimaryViewAsync(_options.ProbeTimeout).ConfigureAwait(false) is { } why)
                {
                    LogNotReady(_logger, _cluster, node.Name, why);
                    continue;
                }
            }

            if (shard.Primary is { } q)
            {
                ready.Add(q);
            }
        }

        return Publish(probes, merged, ready);
    }

    private bool IsPublishedPrimary(string slots, HostEndpoint endpoint)
        => Topology.Shards.Any(s => s.Slots == slots && s.Primary?.Endpoint == endpoint);

    private bool Publish(ClusterProbe[] probes, IReadOnlyList<MergedShard> merged, HashSet<HostEndpoint> ready)
    {
        RedisTopology topology;
        var changed = false;
        var released = new List<RedisNode>();
        lock (_gate)
        {
            foreach (var shard in merged)
            {
                foreach (var m in shard.Members)
                {
                    NodeFor(m);
                }
            }

            var links = _nodes.ToArray();
            var states = new RedisNodeState[links.Length];
            var primaries = merged.Select(s => s.Primary is { } p && ready.Contains(p) ? p : (HostEndpoint?)null).ToArray();
            var byNode = probes.ToDictionary(p => p.Answer.Node);
            for (var i = 0; i < links.Length; i++)
            {
                var endpoint = links[i].Endpoint;
                var k = IndexOfShard(merged, endpoint);

                // A node first seen in this round's answers has not been probed yet: Unknown until the next round.
                states[i] = _prober.StateOf(links[i], byNode.TryGetValue(endpoint, out var probe) ? probe : null, k >= 0 ? primaries[k] : null);
                states[i].Circuit = links[i].Circuit;
            }

            var shards = new RedisShard[merged.Count];
            var map = new short[ClusterSlot.Count];
            Array.Fill(map, (short)-1);
            for (var k = 0; k < merged.Count; k++)
            {
                var s = merged[k];
                var primary = primaries[k] is { } pe ? Array.FindIndex(links, l => l.Endpoint == pe) : -1;
                var replicas = s.Members.Select(m => Array.FindIndex(links, l => l.Endpoint == m)).Where(i => i >= 0 && i != primary).ToArray();
                if (primary < 0)
                {
                    _lostAt.TryAdd(s.Slots, _time.GetTimestamp());
                }
                else
                {
                    _lastPrimaryOffset[s.Slots] = states[primary].ReplicationOffset;
                    var lostAt = _lostAt.Remove(s.Slots, out var at) ? at : _time.GetTimestamp();
                    if (_lastPrimary.TryGetValue(s.Slots, out var old) && old != links[primary].Endpoint)
                    {
                        LogNewPrimary(_logger, _cluster, s.Slots, links[primary].Name, old.ToString());
                        HaClientTelemetry.RecordFailover(_cluster, links[primary].Name, _time.GetElapsedTime(lostAt), s.Slots);
                        if (Array.Find(links, l => l.Endpoint == old) is { } oldNode && states[Array.IndexOf(links, oldNode)].Role is RedisNodeRole.Down)
                        {
                            released.Add(oldNode);
                        }
                    }

                    _lastPrimary[s.Slots] = links[primary].Endpoint;
                }

                shards[k] = new RedisShard(s.Slots, s.Ranges, states, primary, replicas, _lastPrimaryOffset.GetValueOrDefault(s.Slots, -1));
                foreach (var (start, end) in s.Ranges)
                {
                    map.AsSpan(start, end - start + 1).Fill((short)k);
                }
            }

            var signature = string.Join(';', shards.Select(s => s.ToString())) + "|" + string.Join(',', states.Select(s => s.Role));
            if (signature != _signature)
            {
                _signature = signature;
                _version++;
                changed = true;
            }

            topology = new RedisTopology(_version, links, states, shards, map);
            Volatile.Write(ref _topology, topology);
            if (changed)
            {
                _changed.Pulse();
            }
        }

        // A former primary that no longer answers (frozen): calls still waiting on it are released now, not at their budget.
        foreach (var node in released)
        {
            node.ResetConnection();
        }

        if (changed)
        {
            TopologyChanged?.Invoke(topology);
        }

        return topology.Shards.Count == 0 || topology.Shards.Any(s => s.Primary is null);
    }

    private static int IndexOfShard(IReadOnlyList<MergedShard> merged, HostEndpoint endpoint)
    {
        for (var k = 0; k < merged.Count; k++)
        {
            if (merged[k].Members.Contains(endpoint))
            {
                return k;
            }
        }

        return -1;
    }

    /// <summary>The node of <paramref name="endpoint"/>, created when first seen. Under <see cref="_gate"/>.</summary>
    private RedisNode NodeFor(HostEndpoint endpoint)
    {
        if (_nodes.Find(n => n.Endpoint == endpoint) is { } known)
        {
            return known;
        }

        var node = _createNode(endpoint);
        node.ConnectionEvent = n => ReportFailure(n, "connection event");
        _nodes.Add(node);
        _ = node.GetMultiplexerAsync();
        return node;
    }

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
            catch (OperationCanceledException)
            {
            }
        }

        RedisNode[] nodes;
        lock (_gate)
        {
            nodes = [.. _nodes];
        }

        foreach (var n in nodes)
        {
            await n.DisposeAsync().ConfigureAwait(false);
        }

        _wake.Dispose();
        _stop.Dispose();
    }


    [LoggerMessage(EventId = 2101, Level = LogLevel.Information, Message = "Redis {Cluster}: shard {Slots} now writes to primary {Endpoint} (was {Old})")]
    private static partial void LogNewPrimary(ILogger logger, string cluster, string slots, string endpoint, string old);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Debug, Message = "Redis {Cluster}: {Endpoint} reported ({Reason}); probing now")]
    private static partial void LogFailure(ILogger logger, string cluster, string endpoint, string reason);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Warning, Message = "Redis {Cluster}: a probe round failed ({Error})")]
    private static partial void LogRoundFailed(ILogger logger, string cluster, string error);

    [LoggerMessage(EventId = 2104, Level = LogLevel.Debug, Message = "Redis {Cluster}: new primary {Endpoint} not published yet: {Reason}")]
    private static partial void LogNotReady(ILogger logger, string cluster, string endpoint, string reason);
}
