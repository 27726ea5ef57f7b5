using HaClient.Postgres;
using HaClient.Resilience;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Storage;

namespace HaClient.EntityFrameworkCore;

/// <summary>
/// EF Core's command, which tells a <see cref="RoutedRelationalConnection"/> what it is about to run before EF Core opens
/// the connection for it, and turns a connection failure into HaClient's typed exceptions: a read that fails on its host
/// (its open, or the connection) is retried once on another eligible node, then <see cref="ReadFailedException"/>; a write whose connection fails after it was
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

    private Task<RelationalDataReader> ExecuteReaderRoutedAsync(RoutedRelationalConnection connection, RelationalCommandParameterObject parameterObject, CancellationToken cancellationToken)
    {
        var route = RouteOf(connection, parameterObject);
        if (!route.IsRead)
        {
            return ExecuteWriteAsync(connection, static (c, p, ct) => c.BaseExecuteReaderAsync(p, ct), this, parameterObject, cancellationToken);
        }

        // A retry is only ours to make when this command opens the connection (no transaction, no explicit open, no
        // reader still open): then nothing else has run on it. (EF Core's open consumes the route before its first
        // await.) It is the execution strategy's (RoutedExecutionStrategy), unless the application set its own.
        Task<RelationalDataReader> first;
        connection.SetNextRoute(route);
        var retryHere = connection.RetriesReadsInCommand && connection.DbConnection.State == System.Data.ConnectionState.Closed;
        try
        {
            first = base.ExecuteReaderAsync(parameterObject, cancellationToken);
        }
        finally
        {
            connection.ClearNextRoute();
        }

        return retryHere ? RetriedOnAnotherNodeAsync(first, connection, route, parameterObject, cancellationToken) : first;
    }

    /// <summary>A read that failed on its node, in its open (nothing sent) or with a connection-level error, runs once
    /// more on another eligible node (the failed one excluded, as the core API's retry does); a second failure is
    /// <see cref="ReadFailedException"/>.</summary>
    private async Task<RelationalDataReader> RetriedOnAnotherNodeAsync(Task<RelationalDataReader> first, RoutedRelationalConnection connection, CommandRoute route, RelationalCommandParameterObject parameterObject, CancellationToken cancellationToken)
    {
        try
        {
            return await first.ConfigureAwait(false);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && IsRetryable(e, out var endpointFailure))
        {
            connection.Cluster.ReportReadRetried(endpointFailure);
        }

        connection.ExcludeOnNextOpen(connection.OpenHost);
        connection.SetNextRoute(route);
        try
        {
            return await base.ExecuteReaderAsync(parameterObject, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && IsRetryable(e, out _))
        {
            throw new ReadFailedException(connection.Endpoint, e);
        }
        finally
        {
            connection.ClearNextRoute();
        }
    }

    /// <summary>Whether a read's failure is its node's: the open of a chosen host failed (nothing sent), or the
    /// connection failed or the server refused it for overload. Server errors and "no node is eligible" are not.</summary>
    internal static bool IsRetryable(Exception e, out bool endpointFailure)
    {
        var cause = e is NoEligibleEndpointException { InnerException: { } inner } ? inner : e;
        var kind = cause is HaClientException ? FailureKind.ServerError : PostgresFailureClassifier.Classify(cause);
        endpointFailure = kind == FailureKind.EndpointFailure;
        return kind is FailureKind.EndpointFailure or FailureKind.Overload;
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

    /// <summary>The route of a reader command: a LINQ query reads (at its <c>ReadFrom</c> tag's consistency, else the
    /// context's read scope, else a replica within the lag bound when it does not track, else the primary); a
    /// <c>FromSql</c> query reads only inside a read scope (its SQL may write); anything else writes.</summary>
    private static CommandRoute RouteOf(RoutedRelationalConnection connection, RelationalCommandParameterObject parameterObject)
    {
        if (parameterObject.CommandSource == CommandSource.LinqQuery)
        {
            var marker = connection.MarkOf(parameterObject.ParameterValues);
            return CommandRoute.Read(marker?.Asked
                ?? connection.Scope
                ?? (marker is not null ? ReadTarget.WithinLagBound : ReadTarget.Primary));
        }

        return parameterObject.CommandSource == CommandSource.FromSqlQuery && connection.Scope is { } scope ? CommandRoute.Read(scope) : CommandRoute.Write;
    }
}

/// <summary>Builds <see cref="RoutedRelationalCommand"/>s in place of EF Core's commands.</summary>
internal sealed class RoutedRelationalCommandBuilder(RelationalCommandBuilderDependencies dependencies) : RelationalCommandBuilder(dependencies)
{
    public override IRelationalCommand Build()
    {
        // The connection's rented command (built empty, then filled from each query's template) needs no base command
        // to copy from.
        if (Parameters.Count == 0 && ToString() is { Length: 0 } empty)
        {
            return new RoutedRelationalCommand(Dependencies, empty, empty, Parameters);
        }

        var built = base.Build();
        return new RoutedRelationalCommand(Dependencies, built.CommandText, built.LogCommandText, built.Parameters);
    }
}

/// <summary>Creates <see cref="RoutedRelationalCommandBuilder"/>s.</summary>
internal sealed class RoutedRelationalCommandBuilderFactory(RelationalCommandBuilderDependencies dependencies) : RelationalCommandBuilderFactory(dependencies)
{
    public override IRelationalCommandBuilder Create() => new RoutedRelationalCommandBuilder(Dependencies);
}
