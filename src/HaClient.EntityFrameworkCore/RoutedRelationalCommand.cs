using HaClient.Postgres;
using HaClient.Resilience;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Storage;

namespace HaClient.EntityFrameworkCore;

/// <summary>
/// EF Core's command, which tells a <see cref="RoutedRelationalConnection"/> what it is about to run before EF Core opens
/// the connection for it, and turns a connection failure into HaClient's typed exceptions: a read that fails on its host
/// is retried once (a fresh route), then <see cref="ReadFailedException"/>; a write whose connection fails after it was
/// sent is <see cref="WriteOutcomeUnknownException"/> (never retried); a write refused as read-only (the host was
/// demoted after it was chosen) is <see cref="NoEligibleEndpointException"/>: nothing was written.
/// </summary>
internal sealed class RoutedRelationalCommand(RelationalCommandBuilderDependencies dependencies, string commandText, string logCommandText, IReadOnlyList<IRelationalParameter> parameters)
    : RelationalCommand(dependencies, commandText, logCommandText, parameters)
{
    public override Task<RelationalDataReader> ExecuteReaderAsync(RelationalCommandParameterObject parameterObject, CancellationToken cancellationToken = default)
        => parameterObject.Connection is RoutedRelationalConnection connection
            ? ExecuteReaderRoutedAsync(connection, parameterObject, cancellationToken)
            : base.ExecuteReaderAsync(parameterObject, cancellationToken);

    public override Task<int> ExecuteNonQueryAsync(RelationalCommandParameterObject parameterObject, CancellationToken cancellationToken = default)
        => parameterObject.Connection is RoutedRelationalConnection connection
            ? ExecuteWriteAsync(connection, static (c, p, ct) => c.BaseExecuteNonQueryAsync(p, ct), this, parameterObject, cancellationToken)
            : base.ExecuteNonQueryAsync(parameterObject, cancellationToken);

    public override Task<object?> ExecuteScalarAsync(RelationalCommandParameterObject parameterObject, CancellationToken cancellationToken = default)
        => parameterObject.Connection is RoutedRelationalConnection connection
            ? ExecuteWriteAsync(connection, static (c, p, ct) => c.BaseExecuteScalarAsync(p, ct), this, parameterObject, cancellationToken)
            : base.ExecuteScalarAsync(parameterObject, cancellationToken);

    // EF Core creates a non-query or scalar command before it opens the connection, on the connection object it has
    // then; the routed open replaces that object. So these open first (EF Core's own open then only counts) and close
    // after, as EF Core would.
    private async Task<int> BaseExecuteNonQueryAsync(RelationalCommandParameterObject p, CancellationToken ct)
    {
        await p.Connection.OpenAsync(ct).ConfigureAwait(false);
        try
        {
            return await base.ExecuteNonQueryAsync(p, ct).ConfigureAwait(false);
        }
        finally
        {
            await p.Connection.CloseAsync().ConfigureAwait(false);
        }
    }

    private async Task<object?> BaseExecuteScalarAsync(RelationalCommandParameterObject p, CancellationToken ct)
    {
        await p.Connection.OpenAsync(ct).ConfigureAwait(false);
        try
        {
            return await base.ExecuteScalarAsync(p, ct).ConfigureAwait(false);
        }
        finally
        {
            await p.Connection.CloseAsync().ConfigureAwait(false);
        }
    }

    private async Task<RelationalDataReader> ExecuteReaderRoutedAsync(RoutedRelationalConnection connection, RelationalCommandParameterObject parameterObject, CancellationToken cancellationToken)
    {
        var route = RouteOf(connection, parameterObject);
        if (!route.IsRead)
        {
            return await ExecuteWriteAsync(connection, static (c, p, ct) => c.BaseExecuteReaderAsync(p, ct), this, parameterObject, cancellationToken).ConfigureAwait(false);
        }

        // A retry is only ours to make when this command opened the connection (no transaction, no explicit open).
        var opensItself = connection.DbConnection.State == System.Data.ConnectionState.Closed;
        for (var attempt = 0; ; attempt++)
        {
            connection.SetNextRoute(route);
            try
            {
                return await base.ExecuteReaderAsync(parameterObject, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && opensItself && e is not HaClientException
                && PostgresFailureClassifier.Classify(e) == FailureKind.EndpointFailure)
            {
                if (attempt > 0)
                {
                    throw new ReadFailedException(connection.Endpoint, e);
                }
            }
            finally
            {
                connection.ClearNextRoute();
            }
        }
    }

    private Task<RelationalDataReader> BaseExecuteReaderAsync(RelationalCommandParameterObject p, CancellationToken ct) => base.ExecuteReaderAsync(p, ct);

    private static async Task<T> ExecuteWriteAsync<T>(RoutedRelationalConnection connection, Func<RoutedRelationalCommand, RelationalCommandParameterObject, CancellationToken, Task<T>> run, RoutedRelationalCommand command, RelationalCommandParameterObject parameterObject, CancellationToken cancellationToken)
    {
        connection.SetNextRoute(CommandRoute.Write);
        try
        {
            return await run(command, parameterObject, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is not HaClientException
            && PostgresFailureClassifier.Classify(e) is var kind && kind is FailureKind.EndpointFailure or FailureKind.ReadOnly)
        {
            throw kind == FailureKind.ReadOnly
                ? new NoEligibleEndpointException(connection.Cluster.Name, "primary", TimeSpan.Zero, e)
                : new WriteOutcomeUnknownException(connection.Endpoint, e);
        }
        finally
        {
            connection.ClearNextRoute();
        }
    }

    /// <summary>The route of a reader command: a LINQ query reads (from the context's read scope, else a replica
    /// within the lag bound when it does not track, else the primary); a <c>FromSql</c> query reads only inside a read
    /// scope (its SQL may write); anything else writes.</summary>
    private static CommandRoute RouteOf(RoutedRelationalConnection connection, RelationalCommandParameterObject parameterObject)
    {
        if (parameterObject.CommandSource == CommandSource.LinqQuery)
        {
            return CommandRoute.Read(connection.Scope
                ?? (parameterObject.ParameterValues is { } values && values.ContainsKey(RoutedQueryCompilationContext.NoTrackingMarker) ? ReadConsistency.WithinLagBound : ReadConsistency.Primary));
        }

        return parameterObject.CommandSource == CommandSource.FromSqlQuery && connection.Scope is { } scope ? CommandRoute.Read(scope) : CommandRoute.Write;
    }
}

/// <summary>Builds <see cref="RoutedRelationalCommand"/>s in place of EF Core's commands.</summary>
internal sealed class RoutedRelationalCommandBuilder(RelationalCommandBuilderDependencies dependencies) : RelationalCommandBuilder(dependencies)
{
    public override IRelationalCommand Build()
    {
        var built = base.Build();
        return new RoutedRelationalCommand(Dependencies, built.CommandText, built.LogCommandText, built.Parameters);
    }
}

/// <summary>Creates <see cref="RoutedRelationalCommandBuilder"/>s.</summary>
internal sealed class RoutedRelationalCommandBuilderFactory(RelationalCommandBuilderDependencies dependencies) : RelationalCommandBuilderFactory(dependencies)
{
    public override IRelationalCommandBuilder Create() => new RoutedRelationalCommandBuilder(Dependencies);
}
