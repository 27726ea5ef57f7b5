using System.Linq.Expressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Query;
using Npgsql.EntityFrameworkCore.PostgreSQL.Query.Internal;

namespace HaClient.EntityFrameworkCore;

/// <summary>
/// Npgsql's query compilation context, whose compiled no-tracking queries carry a marker in their parameter values:
/// the command sees it and lets the query go to a replica. Whether a query tracks is known only once EF Core has
/// compiled it (<c>AsNoTracking</c> anywhere in the query, or the context's default), and the marker travels with each
/// execution's own <see cref="QueryContext"/>, so a query enumerated later than it was built is still routed by what
/// it is.
/// </summary>
internal sealed class RoutedQueryCompilationContext : NpgsqlQueryCompilationContext
{
    /// <summary>The parameter name of the marker (never a name EF Core generates: they are identifiers).</summary>
    public const string NoTrackingMarker = "HaClient:no-tracking";

    public RoutedQueryCompilationContext(QueryCompilationContextDependencies dependencies, RelationalQueryCompilationContextDependencies relationalDependencies, bool async)
        : base(dependencies, relationalDependencies, async)
    {
    }

    public override Func<QueryContext, TResult> CreateQueryExecutor<TResult>(Expression query)
    {
        var executor = base.CreateQueryExecutor<TResult>(query);
        if (QueryTrackingBehavior == QueryTrackingBehavior.TrackAll)
        {
            return executor;
        }

        return queryContext =>
        {
            queryContext.Parameters[NoTrackingMarker] = null;
            return executor(queryContext);
        };
    }
}

/// <summary>Creates <see cref="RoutedQueryCompilationContext"/> in place of Npgsql's.</summary>
/// <remarks>Precompiled (NativeAOT) queries keep Npgsql's context: they carry no marker and go to the primary unless a
/// read scope says otherwise.</remarks>
internal sealed class RoutedQueryCompilationContextFactory : NpgsqlQueryCompilationContextFactory
{
    private readonly QueryCompilationContextDependencies _dependencies;
    private readonly RelationalQueryCompilationContextDependencies _relationalDependencies;

    public RoutedQueryCompilationContextFactory(QueryCompilationContextDependencies dependencies, RelationalQueryCompilationContextDependencies relationalDependencies)
        : base(dependencies, relationalDependencies)
    {
        _dependencies = dependencies;
        _relationalDependencies = relationalDependencies;
    }

    public override QueryCompilationContext Create(bool async) => new RoutedQueryCompilationContext(_dependencies, _relationalDependencies, async);
}
