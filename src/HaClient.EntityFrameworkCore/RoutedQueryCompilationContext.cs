using System.Linq.Expressions;
using HaClient.Postgres;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Query;
using Npgsql.EntityFrameworkCore.PostgreSQL.Query.Internal;

namespace HaClient.EntityFrameworkCore;

/// <summary>
/// Npgsql's query compilation context, whose compiled queries tell the context's connection their read route as each
/// execution starts: a no-tracking query may go to a replica, a query tagged by
/// <see cref="HaClientQueryableExtensions.ReadFrom{T}"/> reads at the consistency it asked for. Whether a query tracks and
/// how it is tagged are known only once EF Core has compiled it (<c>AsNoTracking</c> anywhere in the query, or the
/// context's default). The route is tied to that execution's own parameter dictionary (the command sees the same
/// instance), so nothing is added to it and nothing is allocated per execution; a query enumerated after another one
/// was started (two deferred enumerables of one context) loses its mark and reads from the primary, the safe side.
/// </summary>
internal sealed class RoutedQueryCompilationContext : NpgsqlQueryCompilationContext
{
    public RoutedQueryCompilationContext(QueryCompilationContextDependencies dependencies, RelationalQueryCompilationContextDependencies relationalDependencies, bool async)
        : base(dependencies, relationalDependencies, async)
    {
    }

    public override Func<QueryContext, TResult> CreateQueryExecutor<TResult>(Expression query)
    {
        var executor = base.CreateQueryExecutor<TResult>(query);
        var route = QueryReadRoute.Of(Tags, QueryTrackingBehavior != QueryTrackingBehavior.TrackAll);
        if (route is null)
        {
            return executor;
        }

        return queryContext =>
        {
            if (queryContext is RelationalQueryContext { Connection: RoutedRelationalConnection connection })
            {
                connection.MarkQuery(queryContext.Parameters, route);
            }

            return executor(queryContext);
        };
    }
}

/// <summary>What a compiled query asks of its read route (one shared instance per kind): the consistency of its
/// <see cref="HaClientQueryableExtensions.ReadFrom{T}"/> tag, which overrides the context's read scope, or, for a
/// no-tracking query without a tag, a replica within the lag bound unless a scope says otherwise.</summary>
internal sealed class QueryReadRoute
{
    public static readonly QueryReadRoute NoTracking = new(null);
    public static readonly QueryReadRoute Primary = new(ReadTarget.Primary);
    public static readonly QueryReadRoute WithinLagBound = new(ReadTarget.WithinLagBound);

    private QueryReadRoute(ReadTarget? asked) => Asked = asked;

    /// <summary>The consistency the query's tag asked for, or <see langword="null"/> (no tag: a no-tracking query).</summary>
    public ReadTarget? Asked { get; }

    /// <summary>The route of a query compiled with <paramref name="tags"/>; <see langword="null"/> for a tracked query
    /// without a tag (the primary, unless a read scope says otherwise).</summary>
    public static QueryReadRoute? Of(ISet<string> tags, bool noTracking)
    {
        if (tags.Count > 0)
        {
            if (tags.Contains(HaClientQueryableExtensions.PrimaryTag))
            {
                return Primary;
            }

            if (tags.Contains(HaClientQueryableExtensions.WithinLagBoundTag))
            {
                return WithinLagBound;
            }
        }

        return noTracking ? NoTracking : null;
    }
}

/// <summary>Creates <see cref="RoutedQueryCompilationContext"/> in place of Npgsql's (one factory per context, holding
/// what Npgsql's holds and no more).</summary>
/// <remarks>Precompiled (NativeAOT) queries keep Npgsql's context: they carry no marker and go to the primary unless a
/// read scope says otherwise.</remarks>
internal sealed class RoutedQueryCompilationContextFactory(QueryCompilationContextDependencies dependencies, RelationalQueryCompilationContextDependencies relationalDependencies)
    : IQueryCompilationContextFactory
{
    public QueryCompilationContext Create(bool async) => new RoutedQueryCompilationContext(dependencies, relationalDependencies, async);

#pragma warning disable EF9100 // precompiled queries are experimental in EF Core: Npgsql's factory offers them, so this one does too
    public QueryCompilationContext CreatePrecompiled(bool async) => new NpgsqlQueryCompilationContext(dependencies, relationalDependencies, async, precompiling: true);
#pragma warning restore EF9100
}
