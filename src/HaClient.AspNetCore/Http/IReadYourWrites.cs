using HaClient.Postgres;
using HaClient.Redis;

namespace HaClient.AspNetCore;

/// <summary>
/// The read-your-writes token of the current request (scoped): the token the client sent (header or cookie), raised by
/// every write the request makes. Reads given <see cref="Consistency"/> see every write the client has seen; the
/// response carries <see cref="Token"/> back (header and cookie) for the client's next request.
/// </summary>
public interface IReadYourWrites
{
    /// <summary>The token the request arrived with (empty when none or malformed).</summary>
    ConsistencyToken Incoming { get; }

    /// <summary>The latest token: the incoming one or a later write's.</summary>
    ConsistencyToken Token { get; }

    /// <summary>What a read must see: <see cref="ReadConsistency.AtLeast(ConsistencyToken)"/> of <see cref="Token"/>.</summary>
    ReadConsistency Consistency { get; }

    /// <summary>Records a write's token; the response will carry the later of it and <see cref="Token"/>.</summary>
    void Observe(ConsistencyToken token);

    /// <summary>The Redis token of <paramref name="component"/> (a <see cref="RedisDeployment"/>'s
    /// <see cref="RedisDeployment.Name"/>): the one the request arrived with, or a later write's of this request; empty
    /// when none. One token per component: a Redis token says nothing about another deployment.</summary>
    RedisConsistencyToken GetRedisToken(string component);

    /// <summary>Records a Redis write's token for <paramref name="component"/>; the response carries the latest one
    /// (<see cref="RedisConsistencyToken.Latest"/>) back.</summary>
    void ObserveRedis(string component, RedisConsistencyToken token);
}
