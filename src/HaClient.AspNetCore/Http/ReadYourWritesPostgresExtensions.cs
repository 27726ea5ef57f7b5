using HaClient.Postgres;
using Npgsql;

namespace HaClient.AspNetCore;

/// <summary>Runs <see cref="PostgresCluster"/> reads and writes with the request's read-your-writes token.</summary>
public static class ReadYourWritesPostgresExtensions
{
    /// <summary>Runs a write on the primary and raises <paramref name="readYourWrites"/> to its token, so the response
    /// carries it and later reads (this request's or the client's next) see the write.</summary>
    public static async Task<T> ExecuteWriteAsync<T>(this PostgresCluster cluster, IReadYourWrites readYourWrites, Func<NpgsqlConnection, CancellationToken, Task<T>> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(readYourWrites);
        var result = await cluster.ExecuteWriteWithTokenAsync(work, cancellationToken).ConfigureAwait(false);
        readYourWrites.Observe(result.Token);
        return result.Value;
    }

    /// <summary>Runs a read on a node that has seen every write the client has seen (a replica that replayed past the
    /// request's token, else the primary).</summary>
    public static Task<T> ExecuteReadAsync<T>(this PostgresCluster cluster, IReadYourWrites readYourWrites, Func<NpgsqlConnection, CancellationToken, Task<T>> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(readYourWrites);
        return cluster.ExecuteReadAsync(work, readYourWrites.Consistency, cancellationToken);
    }
}
