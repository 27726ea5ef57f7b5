using System.Net.Sockets;
using HaClient.Postgres;
using HaClient.Resilience;
using Npgsql;
using Polly.CircuitBreaker;
using Xunit;

namespace HaClient.Postgres.Tests.Unit;

public class PostgresFailureClassifierTests
{
    private static PostgresException Server(string sqlState) => new("message", "ERROR", "ERROR", sqlState);

    [Theory]
    [InlineData("53300", FailureKind.Overload)]      // too_many_connections: the server is full, not broken
    [InlineData("53400", FailureKind.Overload)]      // configuration_limit_exceeded
    [InlineData("25006", FailureKind.ReadOnly)]      // read_only_sql_transaction: a demoted primary
    [InlineData("08006", FailureKind.EndpointFailure)] // connection_failure
    [InlineData("57P01", FailureKind.EndpointFailure)] // admin_shutdown
    [InlineData("57P03", FailureKind.EndpointFailure)] // cannot_connect_now (starting up)
    [InlineData("23505", FailureKind.ServerError)]   // unique_violation: the query's own error
    [InlineData("53100", FailureKind.ServerError)]   // disk_full: refused before commit (WAL full is a PANIC: a crash); never retried, no breaker
    [InlineData("42P01", FailureKind.ServerError)]   // undefined_table
    [InlineData("28P01", FailureKind.ServerError)]   // invalid_password: no breaker can fix a credential
    public void Server_errors_are_classified_by_sqlstate(string sqlState, FailureKind expected)
    {
        Assert.Equal(expected, PostgresFailureClassifier.Classify(Server(sqlState)));
        Assert.Equal(expected, PostgresFailureClassifier.ClassifySqlState(sqlState));
    }

    [Fact]
    public void The_caller_s_deadline_and_a_full_pool_are_overload()
    {
        Assert.Equal(FailureKind.Overload, PostgresFailureClassifier.Classify(new OperationDeadlineExceededException(TimeSpan.FromSeconds(2))));
        Assert.Equal(FailureKind.Overload, PostgresFailureClassifier.Classify(new NpgsqlException(
            "The connection pool has been exhausted, either raise 'Max Pool Size' (currently 1) or 'Timeout' (currently 1 seconds) in your connection string.",
            new TimeoutException())));
    }

    [Fact]
    public void Connection_level_failures_are_endpoint_failures()
    {
        Assert.Equal(FailureKind.EndpointFailure, PostgresFailureClassifier.Classify(new NpgsqlException("Exception while reading from stream", new IOException())));
        Assert.Equal(FailureKind.EndpointFailure, PostgresFailureClassifier.Classify(new NpgsqlException("Timeout during connecting", new TimeoutException())));
        Assert.Equal(FailureKind.EndpointFailure, PostgresFailureClassifier.Classify(new SocketException((int)SocketError.ConnectionRefused)));
        Assert.Equal(FailureKind.EndpointFailure, PostgresFailureClassifier.Classify(new TimeoutException()));
        Assert.Equal(FailureKind.EndpointFailure, PostgresFailureClassifier.Classify(new BrokenCircuitException()));
    }

    [Fact]
    public void Anything_else_is_the_query_s_own_error()
    {
        Assert.Equal(FailureKind.ServerError, PostgresFailureClassifier.Classify(new InvalidOperationException()));
        Assert.Equal(FailureKind.ServerError, PostgresFailureClassifier.Classify(new InvalidCastException()));
    }
}
