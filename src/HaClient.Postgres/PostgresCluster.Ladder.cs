using HaClient.Failover;
using HaClient.Resilience;
using HaClient.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;
using Polly.CircuitBreaker;

namespace HaClient.Postgres;

/// <summary>Reads on the degradation ladder (docs/zones.md).</summary>
public sealed partial class PostgresCluster
{
    /// <summary>
    /// A bounded read on <paramref name="ladder"/>: as <see cref="ExecuteReadAsync{T}"/> with
    /// <see cref="ReadConsistency.WithinLagBound"/>, but when no node meets the bound and no primary can serve it, it
    /// steps down to a replica at most <see cref="ReadLadder{T}.MaxStaleness"/> behind, then to the ladder's cache entry
    /// (no older than that), instead of failing. The result says which step served it and how stale it may be; each
    /// step down is counted (<c>haclient.errors</c>: <c>read_degraded_stale</c>, <c>read_degraded_cache</c>). When every
    /// step fails, the read's own exception is thrown.
    /// </summary>
    public async Task<LadderRead<T>> ExecuteReadWithLadderAsync<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> work, ReadLadder<T> ladder, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        ArgumentNullException.ThrowIfNull(ladder);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        try
        {
            var read = await _engine.ExecuteReadAsync<LadderRead<T>, PostgresCalls.LadderWork<T>>(
                ReadConsistency.WithinLagBound.OrStale(ladder.MaxStaleness), new(work, _options.ReplicaLag.MaxLagTime, _engine.TimeProvider), cancellationToken).ConfigureAwait(false);
            if (read.Step == ReadStep.StaleReplica)
            {
                _engine.CountError(ErrorKinds.ReadDegradedStale);
            }

            return read;
        }
        catch (HaClientException) when (ladder.FromCache is not null && !cancellationToken.IsCancellationRequested)
        {
            if (await ladder.FromCache(cancellationToken).ConfigureAwait(false) is { } cached
                && _engine.TimeProvider.GetUtcNow() - cached.StoredAt is var age && age <= ladder.MaxStaleness)
            {
                _engine.CountError(ErrorKinds.ReadDegradedCache);
                return new LadderRead<T>(cached.Value, ReadStep.Cache, age < TimeSpan.Zero ? TimeSpan.Zero : age, null);
            }

            throw;
        }
    }
}
