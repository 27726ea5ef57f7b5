using System.Net.Sockets;
using HaClient.Resilience;
using Polly.CircuitBreaker;
using StackExchange.Redis;

namespace HaClient.Redis;

/// <summary>What a failed Redis call says about its node (<see cref="FailureKind"/>). Pure: the engine, the breakers and
/// the tests all classify through it.</summary>
public static class RedisFailureClassifier
{
    /// <summary>Classifies <paramref name="exception"/>:
    /// <list type="bullet">
    /// <item><see cref="FailureKind.Overload"/>: the caller's deadline (<see cref="OperationDeadlineExceededException"/>,
    /// StackExchange.Redis's own timeout, which HaClient sets to the same budget), or <c>ERR max number of clients
    /// reached</c>;</item>
    /// <item><see cref="FailureKind.ReadOnly"/>: a <c>READONLY</c> reply (the node was demoted), and in Redis Cluster a
    /// <c>MOVED</c>, <c>ASK</c>, <c>TRYAGAIN</c> or <c>CLUSTERDOWN</c> reply (the node did not run the command: not the
    /// slot's primary now, or the cluster cannot serve the slot yet);</item>
    /// <item><see cref="FailureKind.EndpointFailure"/>: no connection, a broken one, <c>LOADING</c>, <c>MASTERDOWN</c>,
    /// <c>BUSY</c>, an open circuit, a node abandoned after a failover;</item>
    /// <item><see cref="FailureKind.ServerError"/>: every other error reply (a wrong type, a script error).</item>
    /// </list></summary>
    public static FailureKind Classify(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return exception switch
        {
            OperationDeadlineExceededException => FailureKind.Overload,
            RedisTimeoutException => FailureKind.Overload,
            RedisServerException rs => ClassifyReply(rs.Message),
            RedisConnectionException => FailureKind.EndpointFailure,
            NodeNotConnectedException => FailureKind.EndpointFailure,
            BrokenCircuitException => FailureKind.EndpointFailure,
            TimeoutException => FailureKind.EndpointFailure,
            OperationCanceledException => FailureKind.EndpointFailure,
            IOException or SocketException or ObjectDisposedException => FailureKind.EndpointFailure,
            _ => FailureKind.ServerError,
        };
    }

    /// <summary>Whether <paramref name="exception"/> is the server refusing the credentials themselves, which no retry
    /// or failover can fix: a connection that failed authentication, or a <c>NOAUTH</c> / <c>WRONGPASS</c> reply.</summary>
    public static bool IsMisconfiguration(Exception exception) => exception switch
    {
        ClusterSeedException => true,
        RedisConnectionException { FailureType: ConnectionFailureType.AuthenticationFailure } => true,
        RedisServerException rs => rs.Message.StartsWith("NOAUTH", StringComparison.Ordinal) || rs.Message.StartsWith("WRONGPASS", StringComparison.Ordinal),
        { InnerException: { } inner } => IsMisconfiguration(inner),
        _ => false,
    };

    /// <summary>Classifies an error reply by its text.</summary>
    public static FailureKind ClassifyReply(string reply)
    {
        ArgumentNullException.ThrowIfNull(reply);
        if (reply.StartsWith("READONLY", StringComparison.Ordinal) || reply.StartsWith("MOVED ", StringComparison.Ordinal)
            || reply.StartsWith("ASK ", StringComparison.Ordinal) || reply.StartsWith("TRYAGAIN", StringComparison.Ordinal)
            || reply.StartsWith("CLUSTERDOWN", StringComparison.Ordinal))
        {
            return FailureKind.ReadOnly;
        }

        if (reply.StartsWith("LOADING", StringComparison.Ordinal) || reply.StartsWith("MASTERDOWN", StringComparison.Ordinal) || reply.StartsWith("BUSY", StringComparison.Ordinal))
        {
            return FailureKind.EndpointFailure;
        }

        return reply.StartsWith("ERR max number of clients reached", StringComparison.Ordinal) ? FailureKind.Overload : FailureKind.ServerError;
    }
}

/// <summary>The node has no multiplexer yet (or it was just dropped): nothing was sent.</summary>
internal sealed class NodeNotConnectedException(string endpoint) : Exception($"No connection to {endpoint} yet.");
