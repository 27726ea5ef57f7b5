using HaClient.Failover;
using HaClient.Routing;
using StackExchange.Redis;

namespace HaClient.Redis;

/// <summary>Read-your-writes: writes that return a <see cref="RedisConsistencyToken"/>, and reads that see it.</summary>
public sealed partial class RedisDeployment
{
    /// <summary>
    /// <see cref="ExecuteWriteAsync{T}(Func{IDatabase, CancellationToken, Task{T}}, WriteDurability?, CancellationToken)"/>
    /// that also returns the write's read-your-writes token: the primary's replication ID and offset, read on the primary
    /// just after the write (one more round trip). Its string form travels between requests; give it to
    /// <see cref="ExecuteReadAfterAsync{T}"/>. A primary that acknowledged the write but no longer answers as a primary
    /// throws <see cref="WriteOutcomeUnknownException"/>.
    /// </summary>
    /// <param name="work">The write, on the primary's <see cref="IDatabase"/>.</param>
    /// <param name="durability">As for <see cref="ExecuteWriteAsync{T}(Func{IDatabase, CancellationToken, Task{T}}, WriteDurability?, CancellationToken)"/>.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public Task<RedisWriteResult<T>> ExecuteWriteWithTokenAsync<T>(Func<IDatabase, CancellationToken, Task<T>> work, WriteDurability? durability = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        ThrowIfCluster(nameof(ExecuteWriteWithTokenAsync));
        return _engine.ExecuteWriteAsync<RedisWriteResult<T>, RedisTokenCall<T>>(new(work, DurabilityOrDefault(durability), _engine), cancellationToken);
    }

    /// <summary>
    /// Runs <paramref name="work"/> on a node that holds every write up to <paramref name="after"/>: a replica of the
    /// primary within <see cref="RedisOptions.MaxLagBytes"/> whose probed replication history is the token's and has
    /// reached its offset, else the primary. After a failover a token of the old history is answered by the new primary,
    /// never by a replica that cannot prove it holds the write; a token no node knows (another deployment's) is ignored.
    /// Otherwise by the rules of <see cref="ExecuteReadAsync{T}"/>.
    /// </summary>
    /// <param name="work">The read.</param>
    /// <param name="after">The token of the latest write the reader has seen (empty: a plain replica-preferred read).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public Task<T> ExecuteReadAfterAsync<T>(Func<IDatabase, CancellationToken, Task<T>> work, RedisConsistencyToken after, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        ThrowIfCluster(nameof(ExecuteReadAfterAsync));
        return _engine.ExecuteReadAsync<T, RedisCall<T>>(new RedisReadIntent(RedisReadPreference.ReplicaPreferred, after), new(work, WriteDurability.None, _engine), cancellationToken);
    }

    /// <summary>
    /// <see cref="ExecuteKeyWriteAsync{T}"/> that also returns the write's read-your-writes token: the replication ID and
    /// offset of the primary that took it (in cluster mode, the key's shard's primary), read on that node just after the
    /// write. Give it to <see cref="ExecuteKeyReadAfterAsync{T}"/> to read the write back from a replica that holds it.
    /// </summary>
    /// <param name="key">The key the work writes.</param>
    /// <param name="work">The write, on the node's <see cref="IDatabase"/>.</param>
    /// <param name="durability">As for <see cref="ExecuteKeyWriteAsync{T}"/>.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public Task<RedisWriteResult<T>> ExecuteKeyWriteWithTokenAsync<T>(RedisKey key, Func<IDatabase, CancellationToken, Task<T>> work, WriteDurability? durability = null, CancellationToken cancellationToken = default)
    {
        if (_slotEngines is null)
        {
            return ExecuteWriteWithTokenAsync(work, durability, cancellationToken);
        }

        ArgumentNullException.ThrowIfNull(work);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var engine = EngineFor(key);
        return engine.ExecuteWriteAsync<RedisWriteResult<T>, RedisTokenCall<T>>(new(work, DurabilityOrDefault(durability), engine), cancellationToken);
    }

    /// <summary>
    /// Runs <paramref name="work"/>, a read of <paramref name="key"/>, on a node that holds every write up to
    /// <paramref name="after"/>: a replica of the key's shard (cluster mode) or of the primary, within
    /// <see cref="RedisOptions.MaxLagBytes"/>, whose probed replication history is the token's and has reached its offset;
    /// else the primary. A token of an older history (a failover since) is answered by the primary; a token no node knows
    /// (another deployment's or another shard's) is ignored. Otherwise by the rules of
    /// <see cref="ExecuteKeyReadAsync{T}"/>.
    /// </summary>
    /// <param name="key">The key the work reads.</param>
    /// <param name="work">The read.</param>
    /// <param name="after">The token of the latest write the reader has seen (empty: a plain replica-preferred read).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public Task<T> ExecuteKeyReadAfterAsync<T>(RedisKey key, Func<IDatabase, CancellationToken, Task<T>> work, RedisConsistencyToken after, CancellationToken cancellationToken = default)
    {
        if (_slotEngines is null)
        {
            return ExecuteReadAfterAsync(work, after, cancellationToken);
        }

        ArgumentNullException.ThrowIfNull(work);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var engine = EngineFor(key);
        return engine.ExecuteReadAsync<T, RedisCall<T>>(new RedisReadIntent(RedisReadPreference.ReplicaPreferred, after), new(work, WriteDurability.None, engine), cancellationToken);
    }

    private long _lastSampleClaim;

    /// <summary>The clock the deployment was created with (<see cref="TimeProvider.System"/> by default): the one whose
    /// <see cref="TimeProvider.GetTimestamp"/> <see cref="CapToken"/> takes.</summary>
    public TimeProvider TimeProvider => _time;

    /// <summary>
    /// The token a read of this deployment should keep, for a token that arrived from a client in a request that began
    /// at <paramref name="requestStartedTimestamp"/>:
    /// <list type="bullet">
    /// <item>empty for a token whose replication ID no node knows while some node's is known (another deployment's):
    /// it is ignored;</item>
    /// <item>capped to the offset of the primary on the token's history (in cluster mode, that shard's primary) for a
    /// token beyond it, once a probe of that primary that began after the request began has shown that offset (a
    /// legitimate token comes from a write acknowledged before the request began; one beyond is forged);</item>
    /// <item>otherwise the token itself (a token of an older history is left to the primary, which answers it).</item>
    /// </list>
    /// While no such probe exists yet, a token beyond the primary's last known offset is returned as it is and the
    /// monitor is asked to probe now (at most once every <see cref="TokenCap.SampleGap"/>), so that a call at the end of
    /// the same request can usually decide. Cap only the incoming token, never one of a write made during the request.
    /// </summary>
    /// <param name="token">The token the request arrived with.</param>
    /// <param name="requestStartedTimestamp"><see cref="TimeProvider"/>'s <see cref="TimeProvider.GetTimestamp"/> when
    /// the request began, taken before the token was read from it.</param>
    public RedisConsistencyToken CapToken(RedisConsistencyToken token, long requestStartedTimestamp)
    {
        var kept = RedisTokenCap.Cap(_routing.Current, token, requestStartedTimestamp, _time.TimestampFrequency, out var needsSample);
        if (needsSample && TokenCap.TryClaimSample(ref _lastSampleClaim, _time.GetTimestamp(), _time.TimestampFrequency))
        {
            _monitor?.RequestProbe();
            _clusterMonitor?.RequestProbe();
        }

        return kept;
    }
}
