using HaClient.Failover;
using HaClient.Monitoring;
using HaClient.Resilience;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace HaClient.Redis;

/// <summary>The keyed operations: in Redis Cluster mode they route by the key's hash slot to its shard; otherwise the
/// key is only what the work uses, and they are the same as the unkeyed ones.</summary>
public sealed partial class RedisDeployment
{
    /// <summary>
    /// Runs <paramref name="work"/> against the primary that owns <paramref name="key"/> (in cluster mode, the primary of
    /// the key's slot; otherwise the primary), by the rules of
    /// <see cref="ExecuteWriteAsync{T}(Func{IDatabase, CancellationToken, Task{T}}, WriteDurability?, CancellationToken)"/>:
    /// within the budget, waiting for a shard's new primary during its failover, re-routing a write the node refused
    /// without running it (<c>READONLY</c>, <c>MOVED</c>, <c>TRYAGAIN</c>, <c>CLUSTERDOWN</c>), and throwing
    /// <see cref="WriteOutcomeUnknownException"/> for a write cut off after it was sent (never retried).
    /// </summary>
    /// <param name="key">The key the work writes (every key of one call must share its slot, as Redis Cluster requires:
    /// use a hash tag).</param>
    /// <param name="work">The write, on the node's <see cref="IDatabase"/>.</param>
    /// <param name="durability">As for the unkeyed overload.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public Task<T> ExecuteKeyWriteAsync<T>(RedisKey key, Func<IDatabase, CancellationToken, Task<T>> work, WriteDurability? durability = null, CancellationToken cancellationToken = default)
    {
        if (_slotEngines is null)
        {
            return ExecuteWriteAsync(work, durability, cancellationToken);
        }

        ArgumentNullException.ThrowIfNull(work);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var engine = EngineFor(key);
        return engine.ExecuteWriteAsync<T, RedisCall<T>>(new(work, DurabilityOrDefault(durability), engine), cancellationToken);
    }

    /// <summary>
    /// Runs <paramref name="work"/> on a node that holds <paramref name="key"/> and is allowed by
    /// <paramref name="preference"/> (in cluster mode, a replica of the key's shard within
    /// <see cref="RedisOptions.MaxLagBytes"/>, else its primary), by the rules of
    /// <see cref="ExecuteReadAsync{T}(Func{IDatabase, CancellationToken, Task{T}}, RedisReadPreference, CancellationToken)"/>.
    /// </summary>
    /// <param name="key">The key the work reads.</param>
    /// <param name="work">The read.</param>
    /// <param name="preference">Where the read may go.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public Task<T> ExecuteKeyReadAsync<T>(RedisKey key, Func<IDatabase, CancellationToken, Task<T>> work, RedisReadPreference preference = RedisReadPreference.ReplicaPreferred, CancellationToken cancellationToken = default)
    {
        if (_slotEngines is null)
        {
            return ExecuteReadAsync(work, preference, cancellationToken);
        }

        ArgumentNullException.ThrowIfNull(work);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var engine = EngineFor(key);
        return engine.ExecuteReadAsync<T, RedisCall<T>>(preference, new(work, WriteDurability.None, engine), cancellationToken);
    }

    /// <summary>The <see cref="IDatabase"/> of the primary that owns <paramref name="key"/> (see
    /// <see cref="GetWriteDatabase(int)"/>; take it per operation).</summary>
    /// <exception cref="NoEligibleEndpointException">No primary of the key's shard is verified right now.</exception>
    public IDatabase GetKeyWriteDatabase(RedisKey key, int db = -1)
    {
        if (_slotEngines is null)
        {
            return GetWriteDatabase(db);
        }

        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var t = _clusterMonitor!.Topology;
        var i = ClusterRouter.SelectPrimary(t, ClusterSlot.Of(key));
        return i >= 0 ? t.Links[i].Multiplexer!.GetDatabase(db) : throw new NoEligibleEndpointException(Name, "primary", TimeSpan.Zero);
    }

    /// <summary>An <see cref="IDatabase"/> for reads of <paramref name="key"/> (see
    /// <see cref="GetReadDatabase(RedisReadPreference, int)"/>; take it per operation).</summary>
    /// <exception cref="NoEligibleEndpointException">No node of the key's shard may serve reads right now.</exception>
    public IDatabase GetKeyReadDatabase(RedisKey key, RedisReadPreference preference = RedisReadPreference.ReplicaPreferred, int db = -1)
    {
        if (_slotEngines is null)
        {
            return GetReadDatabase(preference, db);
        }

        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var t = _clusterMonitor!.Topology;
        var i = ClusterRouter.SelectReader(t, ClusterSlot.Of(key), preference, _options.MaxLagBytes, _options.FallbackToPrimary, -1, Environment.TickCount);
        return i >= 0 ? t.Links[i].Multiplexer!.GetDatabase(db) : throw new NoEligibleEndpointException(Name, "replica or primary", TimeSpan.Zero);
    }

    /// <summary>The engine of <paramref name="key"/>'s slot, created on first use (one small object per slot in use).</summary>
    private FailoverEngine<RedisNode, RedisReadIntent> EngineFor(RedisKey key)
    {
        var slot = ClusterSlot.Of(key);
        ref var entry = ref _slotEngines![slot];
        if (Volatile.Read(ref entry) is { } engine)
        {
            return engine;
        }

        var created = new FailoverEngine<RedisNode, RedisReadIntent>(Name, "redis", new ClusterSlotTopology(_clusterMonitor!, _options, slot), RedisFailureClassifier.Classify, _options.Resilience.OperationTimeout, _options.FailoverProbeInterval * 2, _time, _logger)
        {
            HedgeReadsAfter = _options.Resilience.HedgeReadsAfter,
        };
        return Interlocked.CompareExchange(ref entry, created, null) ?? created;
    }

    private void ThrowIfCluster(string operation)
    {
        if (_slotEngines is not null)
        {
            throw new InvalidOperationException($"{operation}: in Redis Cluster mode (Cluster is set) use the keyed form (ExecuteKeyWriteAsync, ExecuteKeyReadAsync, GetKeyWriteDatabase, GetKeyReadDatabase), so that the call goes to its slot's shard.");
        }
    }

    /// <summary>Cluster mode: every shard has a verified primary.</summary>
    private async Task<bool> WaitForShardPrimariesAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = new OperationDeadline(_time, timeout);
        while (true)
        {
            var changed = _clusterMonitor!.Changed;
            if (_clusterMonitor.SeedErrors() is { } errors)
            {
                throw new OptionsValidationException(Name, typeof(RedisOptions), errors);
            }

            var t = _clusterMonitor.Topology;
            if (t.Shards.Count > 0 && t.Shards.All(s => s.Primary is not null))
            {
                return true;
            }

            var remaining = deadline.Remaining;
            if (remaining <= TimeSpan.Zero)
            {
                return false;
            }

            _ = await TopologyChangeSignal.WhenChangedAsync(changed, Min(remaining, TimeSpan.FromMilliseconds(100)), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>A cluster node's connection: its one endpoint, with <c>CLUSTER</c> disabled so that StackExchange.Redis
    /// neither discovers the other nodes nor keeps a slot map of its own; HaClient's monitor routes.</summary>
    private ConfigurationOptions ClusterNodeConfig(HostEndpoint endpoint)
    {
        var c = Configure(_options.Tls.Enabled, [endpoint], false);
        c.CommandMap = CommandMap.Create(new HashSet<string> { "CLUSTER" }, available: false);
        return c;
    }
}
