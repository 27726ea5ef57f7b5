#pragma warning disable CS0618 // the obsolete constructors are the plain ones: the classifier reads only the type and the message
using HaClient.Redis;
using HaClient.Resilience;
using StackExchange.Redis;
using Xunit;

namespace HaClient.Redis.Tests;

public class RedisFailureClassifierTests
{
    [Theory]
    [InlineData("READONLY You can't write against a read only replica.", FailureKind.ReadOnly)]
    [InlineData("MOVED 3999 127.0.0.1:17004", FailureKind.ReadOnly)] // Redis Cluster: not run here; re-route
    [InlineData("ASK 3999 127.0.0.1:17004", FailureKind.ReadOnly)]
    [InlineData("TRYAGAIN Multiple keys request during rehashing of slot", FailureKind.ReadOnly)]
    [InlineData("CLUSTERDOWN The cluster is down", FailureKind.ReadOnly)]
    [InlineData("LOADING Redis is loading the dataset in memory", FailureKind.EndpointFailure)]
    [InlineData("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.", FailureKind.EndpointFailure)]
    [InlineData("BUSY Redis is busy running a script.", FailureKind.EndpointFailure)]
    [InlineData("ERR max number of clients reached", FailureKind.Overload)]
    [InlineData("WRONGTYPE Operation against a key holding the wrong kind of value", FailureKind.ServerError)]
    [InlineData("NOPERM this user has no permissions to run the 'set' command", FailureKind.ServerError)]
    public void Error_replies_are_classified_by_their_prefix(string reply, FailureKind expected)
    {
        Assert.Equal(expected, RedisFailureClassifier.Classify(new RedisServerException(reply)));
        Assert.Equal(expected, RedisFailureClassifier.ClassifyReply(reply));
    }

    [Fact]
    public void Deadlines_are_overload_and_broken_connections_are_endpoint_failures()
    {
        Assert.Equal(FailureKind.Overload, RedisFailureClassifier.Classify(new OperationDeadlineExceededException(TimeSpan.FromSeconds(1))));
        Assert.Equal(FailureKind.Overload, RedisFailureClassifier.Classify(new RedisTimeoutException("Timeout awaiting response", CommandStatus.Sent)));
        Assert.Equal(FailureKind.EndpointFailure, RedisFailureClassifier.Classify(new RedisConnectionException(ConnectionFailureType.SocketFailure, "socket closed")));
        Assert.Equal(FailureKind.EndpointFailure, RedisFailureClassifier.Classify(new IOException()));
        Assert.Equal(FailureKind.ServerError, RedisFailureClassifier.Classify(new InvalidOperationException()));
    }

    [Fact]
    public void Refused_credentials_are_a_misconfiguration_and_nothing_else_is()
    {
        Assert.True(RedisFailureClassifier.IsMisconfiguration(new RedisConnectionException(ConnectionFailureType.AuthenticationFailure, "auth")));
        Assert.True(RedisFailureClassifier.IsMisconfiguration(new RedisServerException("WRONGPASS invalid username-password pair or user is disabled.")));
        Assert.True(RedisFailureClassifier.IsMisconfiguration(new RedisServerException("NOAUTH Authentication required.")));
        Assert.True(RedisFailureClassifier.IsMisconfiguration(new TimeoutException("probe", new RedisServerException("NOAUTH Authentication required."))));
        Assert.False(RedisFailureClassifier.IsMisconfiguration(new RedisConnectionException(ConnectionFailureType.SocketFailure, "socket closed")));
        Assert.False(RedisFailureClassifier.IsMisconfiguration(new RedisServerException("READONLY You can't write against a read only replica.")));
    }
}
