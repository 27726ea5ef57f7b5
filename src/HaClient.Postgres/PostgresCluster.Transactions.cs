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

/// <summary>Writes whose outcome is always told: HaClient's own transaction, resolved after a lost commit
/// (docs/outcomes.md).</summary>
public sealed partial class PostgresCluster
{
    /// <summary>
    /// Runs <paramref name="work"/> in a transaction that HaClient begins and commits on the primary, and reports what
    /// became of it even when the connection fails on the way:
    /// <list type="bullet">
    /// <item>it committed: the work's result is returned, also when the commit's reply was lost and the primary that holds
    /// the cluster's history (the same server, or the one promoted since) showed that it committed;</item>
    /// <item>it did not commit (the connection failed before the commit was sent, or that primary has no trace of the
    /// commit): <see cref="WriteNotCommittedException"/>, or the work runs again on the primary within the same budget
    /// when <see cref="PostgresClusterOptions.TransactionRetry"/> is <see cref="WriteRetry.WhenNotCommitted"/>;</item>
    /// <item>no server could tell within the budget: <see cref="WriteOutcomeUnknownException"/>.</item>
    /// </list>
    /// The work must not commit or roll back the transaction itself. It costs one round trip more than
    /// <see cref="ExecuteWriteAsync{T}"/> (the evidence read just before the commit); see docs/outcomes.md.
    /// </summary>
    public Task<T> ExecuteTransactionAsync<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
        => ExecuteTransactionAsync(work, _options.TransactionRetry, cancellationToken);

    /// <summary>As <see cref="ExecuteTransactionAsync{T}(Func{NpgsqlConnection, CancellationToken, Task{T}}, CancellationToken)"/>.</summary>
    public Task<T> ExecuteTransactionAsync<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> work)
        => ExecuteTransactionAsync(work, _options.TransactionRetry, CancellationToken.None);

    /// <summary>As <see cref="ExecuteTransactionAsync{T}(Func{NpgsqlConnection, CancellationToken, Task{T}}, CancellationToken)"/>,
    /// with this call's own retry mode in place of <see cref="PostgresClusterOptions.TransactionRetry"/>.</summary>
    public Task<T> ExecuteTransactionAsync<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> work, WriteRetry retry, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        if (!Enum.IsDefined(retry))
        {
            throw new ArgumentOutOfRangeException(nameof(retry), retry, "retry: is not a WriteRetry value.");
        }

        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        return _engine.ExecuteWriteAsync<T, PostgresCalls.TransactionWork<T>>(new(work), retry, cancellationToken);
    }
}
