using System.Data.Common;
using Npgsql;

namespace HaClient.Postgres;

/// <summary>
/// A <see cref="DbDataSource"/> over a <see cref="PostgresCluster"/> for Dapper and anything else that takes a data
/// source (the shape of Npgsql's own <c>WithTargetSession</c> wrapper): <see cref="DbDataSource.OpenConnectionAsync"/>
/// routes when it opens, through the cluster (the primary for writes, refused on a standby; a node that meets the
/// consistency for reads), on the cluster's own per-host pools. It owns nothing: disposing it is a no-op.
/// </summary>
/// <remarks>
/// What such a connection gives up against <see cref="PostgresCluster.ExecuteWriteAsync{T}"/> and
/// <see cref="PostgresCluster.ExecuteReadAsync{T}"/>: the operation budget covers the open only (commands are bounded
/// only by a timeout the caller sets: HaClient's pools have no <c>Command Timeout</c> unless the connection string sets
/// one, so set it on the command (Dapper's <c>commandTimeout</c>)); a failed read is not retried; a write that fails after it was
/// sent surfaces as Npgsql's exception, not <see cref="WriteOutcomeUnknownException"/>; a write returns no
/// read-your-writes token unless the caller reads one (<see cref="PostgresCluster.GetConsistencyTokenAsync"/>). A
/// connection from <see cref="DbDataSource.CreateConnection"/> is routed when it is created, not when it is opened.
/// </remarks>
internal sealed class ClusterDataSource(PostgresCluster cluster, ReadConsistency? read) : DbDataSource
{
    public override string ConnectionString => cluster.DisplayConnectionString;

    protected override DbConnection CreateDbConnection() => cluster.CreateRoutedConnection(read);

    protected override async ValueTask<DbConnection> OpenDbConnectionAsync(CancellationToken cancellationToken = default)
        => read is { } consistency
            ? await cluster.OpenReadConnectionAsync(consistency, cancellationToken).ConfigureAwait(false)
            : await cluster.OpenWriteConnectionAsync(cancellationToken).ConfigureAwait(false);

    protected override DbCommand CreateDbCommand(string? commandText = null)
        => throw new NotSupportedException("A command from a routed data source would pick its host with no intent: open a connection (OpenConnectionAsync) and create the command on it.");

    protected override DbBatch CreateDbBatch()
        => throw new NotSupportedException("A batch from a routed data source would pick its host with no intent: open a connection (OpenConnectionAsync) and create the batch on it.");

    protected override void Dispose(bool disposing)
    {
        // The cluster owns the pools.
    }

    protected override ValueTask DisposeAsyncCore() => ValueTask.CompletedTask;
}
