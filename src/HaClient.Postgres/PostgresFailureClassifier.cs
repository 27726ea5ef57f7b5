using System.Net.Sockets;
using HaClient.Resilience;
using Npgsql;
using Polly.CircuitBreaker;

namespace HaClient.Postgres;

/// <summary>What a failed PostgreSQL call says about its host (<see cref="FailureKind"/>). Pure: the engine, the breakers
/// and the tests all classify through it.</summary>
public static class PostgresFailureClassifier
{
    /// <summary>Classifies <paramref name="exception"/>:
    /// <list type="bullet">
    /// <item><see cref="FailureKind.Overload"/>: the caller's deadline (<see cref="OperationDeadlineExceededException"/>),
    /// <c>53300 too_many_connections</c>, <c>53400</c>, or Npgsql's pool with no free connection;</item>
    /// <item><see cref="FailureKind.ReadOnly"/>: <c>25006 read_only_sql_transaction</c>, or a write connection that reported
    /// <c>in_hot_standby=on</c>;</item>
    /// <item><see cref="FailureKind.EndpointFailure"/>: class <c>08</c> (connection), <c>57P</c> (shutdown, crash), any other
    /// Npgsql or socket failure, a driver timeout, an open circuit;</item>
    /// <item><see cref="FailureKind.ServerError"/>: every other server error (constraints, syntax, permissions).</item>
    /// </list></summary>
    public static FailureKind Classify(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return exception switch
        {
            OperationDeadlineExceededException => FailureKind.Overload,
            NotPrimaryException => FailureKind.ReadOnly,
            PostgresException pg => ClassifySqlState(pg.SqlState),
            NpgsqlException { InnerException: TimeoutException } e when IsPoolExhausted(e) => FailureKind.Overload,
            NpgsqlException => FailureKind.EndpointFailure,
            BrokenCircuitException => FailureKind.EndpointFailure,
            TimeoutException => FailureKind.EndpointFailure,
            OperationCanceledException => FailureKind.EndpointFailure,
            IOException or SocketException => FailureKind.EndpointFailure,
            _ => FailureKind.ServerError,
        };
    }

    /// <summary>Classifies a server error by its SQLSTATE.</summary>
    public static FailureKind ClassifySqlState(string sqlState)
    {
        ArgumentNullException.ThrowIfNull(sqlState);
        if (sqlState is PostgresErrorCodes.TooManyConnections or PostgresErrorCodes.ConfigurationLimitExceeded)
        {
            return FailureKind.Overload;
        }

        if (sqlState == PostgresErrorCodes.ReadOnlySqlTransaction)
        {
            return FailureKind.ReadOnly;
        }

        return sqlState.StartsWith("08", StringComparison.Ordinal) || sqlState.StartsWith("57P", StringComparison.Ordinal)
            ? FailureKind.EndpointFailure
            : FailureKind.ServerError;
    }

    /// <summary>Whether <paramref name="exception"/> is the server refusing the connection settings themselves, which no
    /// retry or failover can fix: class <c>28</c> (a wrong password, an unknown user, no <c>pg_hba.conf</c> entry) or
    /// <c>3D000</c> (no such database).</summary>
    public static bool IsMisconfiguration(Exception exception)
        => exception is PostgresException pg && (pg.SqlState.StartsWith("28", StringComparison.Ordinal) || pg.SqlState == PostgresErrorCodes.InvalidCatalogName);

    // Npgsql reports a full pool as an NpgsqlException around a TimeoutException, with no code of its own.
    private static bool IsPoolExhausted(NpgsqlException e) => e.Message.Contains("pool has been exhausted", StringComparison.Ordinal);
}

/// <summary>A write connection reported <c>in_hot_standby=on</c> before anything was sent.</summary>
internal sealed class NotPrimaryException : Exception
{
    public NotPrimaryException()
        : base("The connection is to a hot standby.")
    {
    }
}
