using HaClient.Postgres;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Storage;

namespace HaClient.EntityFrameworkCore;

/// <summary>Read routing and read-your-writes on a context configured with <c>UseHaClient</c>.</summary>
public static class HaClientDbContextExtensions
{
    /// <summary>
    /// Until the returned scope is disposed, every LINQ query of <paramref name="context"/> (tracked or not) and every
    /// <c>FromSql</c> query reads at <paramref name="consistency"/>, raised to the context's read-your-writes token:
    /// <c>using (db.ReadFrom(ReadConsistency.Primary)) { … }</c> for reads that must be current,
    /// <c>ReadFrom(ReadConsistency.WithinLagBound)</c> to send tracked queries to replicas too. Scopes nest; writes are
    /// never affected. A query already running on an open connection (inside a transaction) stays on it.
    /// </summary>
    public static ReadScope ReadFrom(this DbContext context, ReadConsistency consistency)
    {
        var connection = RoutedConnection(context);
        var scope = new ReadScope(connection, connection.Scope);
        connection.Scope = new ReadTarget(consistency);
        return scope;
    }

    /// <summary>The context's read-your-writes token: the primary's WAL position after its latest SaveChanges (or other
    /// write), or a later token it was given. Empty before any.</summary>
    public static ConsistencyToken GetConsistencyToken(this DbContext context) => RoutedConnection(context).Token;

    /// <summary>Makes every later read of <paramref name="context"/> see at least <paramref name="token"/> (a token from
    /// another context, process or request).</summary>
    public static void ObserveConsistencyToken(this DbContext context, ConsistencyToken token) => RoutedConnection(context).Observe(token);

    /// <summary>The cluster the context runs on.</summary>
    public static PostgresCluster GetPostgresCluster(this DbContext context) => RoutedConnection(context).Cluster;

    private static RoutedRelationalConnection RoutedConnection(DbContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.GetService<IRelationalConnection>() as RoutedRelationalConnection
            ?? throw new InvalidOperationException($"{context.GetType().Name} is not configured with UseHaClient(cluster).");
    }
}

/// <summary>A read scope from <see cref="HaClientDbContextExtensions.ReadFrom"/>; disposing it restores the scope that
/// was in force before.</summary>
public readonly struct ReadScope : IDisposable
{
    private readonly RoutedRelationalConnection? _connection;
    private readonly ReadTarget? _previous;

    internal ReadScope(RoutedRelationalConnection connection, ReadTarget? previous)
    {
        _connection = connection;
        _previous = previous;
    }

    /// <summary>Restores the previous scope.</summary>
    public void Dispose()
    {
        if (_connection is not null)
        {
            _connection.Scope = _previous;
        }
    }
}
