using HaClient.Failover;
using HaClient.Resilience;
using HaClient.Telemetry;
using StackExchange.Redis;

namespace HaClient.Redis;

/// <summary>The call the engine makes on a node: the work on the node's <see cref="IDatabase"/> through its breaker and
/// until the deadline, then <c>WAIT</c> for a durable write. Its caller is also released when the node is abandoned (its
/// connections dropped while it hangs: <see cref="EndpointCircuit.AbandonInFlight"/>).</summary>
internal readonly struct RedisCall<T>(Func<IDatabase, CancellationToken, Task<T>> work, WriteDurability durability, FailoverEngine<RedisNode, RedisReadPreference> engine)
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
    private static Task<T> RunOnNode(RedisNode node, Func<IDatabase, CancellationToken, Task<T>> work, WriteDurability durability, WriteProgress? progress, FailoverEngine<RedisNode, RedisReadPreference> engine, CancellationToken cancellationToken)
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

    private static async Task<T> WaitForReplicasAsync(Task<T> work, IDatabase db, RedisNode node, WriteDurability durability, FailoverEngine<RedisNode, RedisReadPreference> engine)
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
