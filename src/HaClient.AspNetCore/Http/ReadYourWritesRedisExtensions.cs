using HaClient.Redis;
using StackExchange.Redis;

namespace HaClient.AspNetCore;

/// <summary>Runs <see cref="RedisDeployment"/> reads and writes with the request's read-your-writes token for that
/// deployment (one token per component, named by <see cref="RedisDeployment.Name"/>).</summary>
public static class ReadYourWritesRedisExtensions
{
    /// <summary>Runs a write on the primary that owns <paramref name="key"/> and raises the request's token for this
    /// deployment to the write's, so the response carries it and later reads (this request's or the client's next) see
    /// the write.</summary>
    public static async Task<T> ExecuteKeyWriteAsync<T>(this RedisDeployment deployment, IReadYourWrites readYourWrites, RedisKey key, Func<IDatabase, CancellationToken, Task<T>> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        ArgumentNullException.ThrowIfNull(readYourWrites);
        var result = await deployment.ExecuteKeyWriteWithTokenAsync(key, work, null, cancellationToken).ConfigureAwait(false);
        readYourWrites.ObserveRedis(deployment.Name, result.Token);
        return result.Value;
    }

    /// <summary>Runs a read of <paramref name="key"/> on a node that has every write the client has seen on this
    /// deployment (a replica that proves it, else the primary; <see cref="RedisDeployment.ExecuteKeyReadAfterAsync{T}"/>).</summary>
    public static Task<T> ExecuteKeyReadAsync<T>(this RedisDeployment deployment, IReadYourWrites readYourWrites, RedisKey key, Func<IDatabase, CancellationToken, Task<T>> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        ArgumentNullException.ThrowIfNull(readYourWrites);
        return deployment.ExecuteKeyReadAfterAsync(key, work, readYourWrites.GetRedisToken(deployment.Name), cancellationToken);
    }
}
