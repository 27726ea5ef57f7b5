using HaClient.Resilience;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql.EntityFrameworkCore.PostgreSQL.Infrastructure.Internal;
using Npgsql.EntityFrameworkCore.PostgreSQL.Storage.Internal;

namespace HaClient.EntityFrameworkCore;

/// <summary>
/// Npgsql's default (non-retrying) execution strategy, which also retries a routed read once on another node: when an
/// operation fails because the read it ran (a LINQ query, a <c>FromSql</c> query in a read scope, on a connection the
/// read opened itself) failed on its node, in its open or with a connection-level error, the operation runs again with
/// that node excluded, and a second such failure is <see cref="ReadFailedException"/>. EF Core runs every query inside
/// its execution strategy and re-runs it whole, as a retrying strategy would; writes and anything in a transaction are
/// never retried. Transient Npgsql failures are wrapped as Npgsql's strategy (<see cref="NpgsqlExecutionStrategy"/>)
/// wraps them.
/// </summary>
/// <remarks>The retry lives here, in the frame EF Core already awaits through, rather than around each command, so that
/// a routed query allocates no state machine of its own; and the strategy, one per context, holds no more than Npgsql's
/// (the context's connection is looked up only when an operation failed). A strategy the application configures
/// (<c>EnableRetryOnFailure</c>) replaces this one; the command then retries the read itself.</remarks>
internal sealed class RoutedExecutionStrategy(ExecutionStrategyDependencies dependencies) : IExecutionStrategy
{
    public bool RetriesOnFailure => false;

    public TResult Execute<TState, TResult>(TState state, Func<DbContext, TState, TResult> operation, Func<DbContext, TState, ExecutionResult<TResult>>? verifySucceeded)
    {
        try
        {
            return operation(dependencies.CurrentContext.Context, state);
        }
        catch (Exception e) when (ExecutionStrategy.CallOnWrappedException(e, NpgsqlTransientExceptionDetector.ShouldRetryOn))
        {
            throw Transient(e);
        }
    }

    public async Task<TResult> ExecuteAsync<TState, TResult>(
        TState state,
        Func<DbContext, TState, CancellationToken, Task<TResult>> operation,
        Func<DbContext, TState, CancellationToken, Task<ExecutionResult<TResult>>>? verifySucceeded,
        CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await operation(dependencies.CurrentContext.Context, state, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && ConnectionOf(dependencies.CurrentContext.Context) is { } connection
                && connection.TakeRetryableRead() && RoutedRelationalCommand.IsRetryable(e, out var endpointFailure))
            {
                if (attempt > 0)
                {
                    throw new ReadFailedException(connection.Endpoint, e);
                }

                connection.Cluster.ReportReadRetried(endpointFailure);
                connection.ExcludeOnNextOpen(connection.OpenHost);
            }
            catch (Exception e) when (ExecutionStrategy.CallOnWrappedException(e, NpgsqlTransientExceptionDetector.ShouldRetryOn))
            {
                throw Transient(e);
            }
        }
    }

    /// <summary>The context's routed connection (looked up on a failure only).</summary>
    internal static RoutedRelationalConnection? ConnectionOf(DbContext context) => context.GetService<IRelationalConnection>() as RoutedRelationalConnection;

    private static InvalidOperationException Transient(Exception e) => new("An exception has been raised that is likely due to a transient failure.", e);
}

/// <summary>Creates <see cref="RoutedExecutionStrategy"/> as the context's default strategy, or the application's own
/// (<c>EnableRetryOnFailure</c>, <c>ExecutionStrategy(…)</c>) when the provider options set one, and then tells the
/// connection (the command retries reads itself).</summary>
/// <remarks>EF Core's <c>RelationalExecutionStrategyFactory</c>, one per context, lists the context's options extensions
/// and allocates a delegate in its constructor; this one reads the provider's extension by key when a strategy is
/// created, once per context, and allocates neither.</remarks>
internal sealed class RoutedExecutionStrategyFactory(ExecutionStrategyDependencies dependencies) : IExecutionStrategyFactory
{
    public IExecutionStrategy Create()
    {
        if (dependencies.Options.FindExtension<NpgsqlOptionsExtension>()?.ExecutionStrategyFactory is not { } configured)
        {
            return new RoutedExecutionStrategy(dependencies);
        }

        if (RoutedExecutionStrategy.ConnectionOf(dependencies.CurrentContext.Context) is { } connection)
        {
            connection.RetriesReadsInCommand = true;
        }

        return configured(dependencies);
    }
}
