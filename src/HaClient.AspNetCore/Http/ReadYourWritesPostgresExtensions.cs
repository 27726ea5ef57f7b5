using HaClient.Postgres;
using Npgsql;

namespace HaClient.AspNetCore;

/// <summary>Runs <see cref="PostgresCluster"/> reads and writes with the request's read-your-writes token.</summary>
public static class ReadYourWritesPostgresExtensions
{
    /// <summary>Runs a write on the primary and raises the request's token for this cluster (named by
    /// <see cref="PostgresCluster.Name"/>) to the write's, so the response carries it and later reads (this request's or
    /// the client's next) see the write.</summary>
    public static async Task<T> ExecuteWriteAsync<T>(this PostgresCluster cluster, IReadYourWrites readYourWrites, Func<NpgsqlConnection, CancellationToken, Task<T>> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(readYourWrites);
        var result = await cluster.ExecuteWriteWithTokenAsync(work, cancellationToken).ConfigureAwait(false);
        readYourWrites.ObservePostgres(cluster.Name, result.Token);
        return result.Value;
    }

    /// <summary>Runs a read on a node that has seen every write the client has seen on this cluster (a replica that
    /// replayed past the request's token for it, else the primary).</summary>
    public static Task<T> ExecuteReadAsync<T>(this PostgresCluster cluster, IReadYourWrites readYourWrites, Func<NpgsqlConnection, CancellationToken, Task<T>> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(readYourWrites);
        return cluster.ExecuteReadAsync(work, ReadConsistency.AtLeast(readYourWrites.GetPostgresToken(cluster.Name)), cancellationToken);
    }
}
