using HaClient.Failover;
using HaClient.Resilience;
using HaClient.Telemetry;
using StackExchange.Redis;

namespace HaClient.Redis;

/// <summary>The call the engine makes on a node: the work on the node's <see cref="IDatabase"/> through its breaker and
/// until the deadline, then <c>WAIT</c> for a durable write. The call also ends when the node is abandoned (a new master
/// was adopted while this one hangs).</summary>
internal readonly struct RedisCall<T>(Func<IDatabase, CancellationToken, Task<T>> work, WriteDurability durability, FailoverEngine<RedisNode, RedisReadPreference> engine)
    : IEndpointCall<RedisNode, T>
{
    public async ValueTask<T> RunAsync(RedisNode endpoint, WriteProgress? progress, OperationDeadline deadline, CancellationToken cancellationToken)
    {
        // A linked source only when the caller's token can cancel; usually the node's abandon token alone does.
        var abandon = endpoint.AbandonToken;
        using var linked = cancellationToken.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, abandon) : null;
        return await endpoint.Circuit.ExecuteBoundedAsync(
            static (c, ct) => RunOnNodeAsync(c.endpoint, c.work, c.durability, c.progress, c.engine, ct),
            (endpoint, work, durability, progress, engine),
            deadline,
            linked?.Token ?? abandon).ConfigureAwait(false);
    }

    private static async Task<T> RunOnNodeAsync(RedisNode node, Func<IDatabase, CancellationToken, Task<T>> work, WriteDurability durability, WriteProgress? progress, FailoverEngine<RedisNode, RedisReadPreference> engine, CancellationToken cancellationToken)
    {
        var mux = node.Multiplexer ?? throw new NodeNotConnectedException(node.Name);
        var db = mux.GetDatabase();
        progress?.MarkSent();
        var result = await work(db, cancellationToken).ConfigureAwait(false);
        if (durability.Replicas > 0)
        {
            var timeoutMs = Math.Max(1, (long)durability.Timeout.TotalMilliseconds);
            var acked = (long)await db.ExecuteAsync("WAIT", durability.Replicas, timeoutMs).ConfigureAwait(false);
            if (acked < durability.Replicas)
            {
                engine.CountError(ErrorKinds.ReplicationNotConfirmed);
                throw new ReplicationNotConfirmedException(node.Name, durability.Replicas, acked, durability.Timeout);
            }
        }

        return result;
    }
}
