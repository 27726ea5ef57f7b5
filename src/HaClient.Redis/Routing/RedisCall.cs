using HaClient.Failover;
using HaClient.Resilience;
using HaClient.Telemetry;
using StackExchange.Redis;

namespace HaClient.Redis;

/// <summary>The call the engine makes on a node: the work on the node's <see cref="IDatabase"/> through its breaker and
/// until the deadline, then <c>WAIT</c> for a durable write. Its caller is also released when the node is abandoned (its
/// connections dropped while it hangs: <see cref="EndpointCircuit.AbandonInFlight"/>).</summary>
internal readonly struct RedisCall<T>(Func<IDatabase, CancellationToken, Task<T>> work, WriteDurability durability, FailoverEngine<RedisNode, RedisReadIntent> engine)
    : IEndpointCall<RedisNode, T>
{
    public ValueTask<T> RunAsync(RedisNode endpoint, WriteProgress? progress, OperationDeadline deadline, CancellationToken cancellationToken)
        => endpoint.Circuit.ExecuteBoundedAsync(
            static (c, ct) => new ValueTask<T>(RunOnNode(c.endpoint, c.work, c.durability, c.progress, c.engine, ct)),
            (endpoint, work, durability, progress, engine),
            deadline,
            cancellationToken);

    /// <summary>The work on the node; a durable write then waits for its replicas. No state machine of HaClient's own
    /// unless the write asks for replicas: the call is the work's own task.</summary>
    internal static Task<T> RunOnNode(RedisNode node, Func<IDatabase, CancellationToken, Task<T>> work, WriteDurability durability, WriteProgress? progress, FailoverEngine<RedisNode, RedisReadIntent> engine, CancellationToken cancellationToken)
    {
        if (node.Multiplexer is not { } mux)
        {
            return Task.FromException<T>(new NodeNotConnectedException(node.Name));
        }

        var db = mux.GetDatabase();
        progress?.MarkSent();
        Task<T> task;
        try
        {
            task = work(db, cancellationToken);
        }
        catch (Exception e)
        {
            return Task.FromException<T>(e);
        }

        return durability.Replicas > 0 ? WaitForReplicasAsync(task, db, node, durability, engine) : task;
    }

    private static async Task<T> WaitForReplicasAsync(Task<T> work, IDatabase db, RedisNode node, WriteDurability durability, FailoverEngine<RedisNode, RedisReadIntent> engine)
    {
        var result = await work.ConfigureAwait(false);
        var timeoutMs = Math.Max(1, (long)durability.Timeout.TotalMilliseconds);
        var acked = (long)await db.ExecuteAsync("WAIT", durability.Replicas, timeoutMs).ConfigureAwait(false);
        if (acked < durability.Replicas)
        {
            engine.CountError(ErrorKinds.ReplicationNotConfirmed);
            throw new ReplicationNotConfirmedException(node.Name, durability.Replicas, acked, durability.Timeout);
        }

        return result;
    }
}

/// <summary>A write that returns its read-your-writes token: the work (and <c>WAIT</c>) as <see cref="RedisCall{T}"/>,
/// then <c>INFO replication</c> on the same node, whose replication ID and offset then include the write.</summary>
internal readonly struct RedisTokenCall<T>(Func<IDatabase, CancellationToken, Task<T>> work, WriteDurability durability, FailoverEngine<RedisNode, RedisReadIntent> engine)
    : IEndpointCall<RedisNode, RedisWriteResult<T>>
{
    public ValueTask<RedisWriteResult<T>> RunAsync(RedisNode endpoint, WriteProgress? progress, OperationDeadline deadline, CancellationToken cancellationToken)
        => endpoint.Circuit.ExecuteBoundedAsync(
            static (c, ct) => new ValueTask<RedisWriteResult<T>>(WithTokenAsync(c.endpoint, RedisCall<T>.RunOnNode(c.endpoint, c.work, c.durability, c.progress, c.engine, ct))),
            (endpoint, work, durability, progress, engine),
            deadline,
            cancellationToken);

    private static async Task<RedisWriteResult<T>> WithTokenAsync(RedisNode node, Task<T> write)
    {
        var value = await write.ConfigureAwait(false);
        if (node.Multiplexer is not { } mux)
        {
            throw new WriteOutcomeUnknownException(node.Name, new NodeNotConnectedException(node.Name));
        }

        // After the write's reply: the offset the primary reports now includes the write.
        var info = await ReplicationInfo.ReadAsync(mux.GetDatabase()).ConfigureAwait(false);
        var token = info.ToToken();
        if (token.IsEmpty)
        {
            // Acknowledged, but the node no longer answers as a primary (demoted since): the write may not survive.
            throw new WriteOutcomeUnknownException(node.Name, new InvalidOperationException("The node acknowledged the write but no longer reports itself a primary; no token can prove the write."));
        }

        return new RedisWriteResult<T>(value, token);
    }
}
