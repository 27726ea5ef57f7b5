using HaClient.Postgres;
using HaClient.Redis;

namespace HaClient.AspNetCore;

/// <summary>
/// The read-your-writes tokens of the current request (scoped): one per component (a <see cref="PostgresCluster"/> or
/// a <see cref="RedisDeployment"/>, named by its <c>Name</c>), each the token the client sent (header or cookie), taken
/// as the component takes it (a token of another deployment dropped; one beyond the primary capped,
/// <see cref="PostgresCluster.CapToken"/>), and raised by every write the request makes. Reads given a component's
/// token see every write the client has seen there; the response carries the tokens back (header and cookies) for the
/// client's next request. The members without a component name are the default Postgres cluster's (the only one
/// registered, or the one named <c>default</c>).
/// </summary>
public interface IReadYourWrites
{
    /// <summary>The default Postgres cluster's token as the request arrived with it (empty when none, malformed or
    /// another cluster's).</summary>
    ConsistencyToken Incoming { get; }

    /// <summary>The default Postgres cluster's latest token: the incoming one or a later write's.</summary>
    ConsistencyToken Token { get; }

    /// <summary>What a read of the default Postgres cluster must see:
    /// <see cref="ReadConsistency.AtLeast(ConsistencyToken)"/> of <see cref="Token"/>.</summary>
    ReadConsistency Consistency { get; }

    /// <summary>Records a write's token on the default Postgres cluster; the response will carry the later of it and
    /// <see cref="Token"/>.</summary>
    void Observe(ConsistencyToken token);

    /// <summary>The Postgres token of <paramref name="component"/> (a <see cref="PostgresCluster"/>'s
    /// <see cref="PostgresCluster.Name"/>): the one the request arrived with, or a later write's of this request; empty
    /// when none. One token per component: a token says nothing about another cluster.</summary>
    ConsistencyToken GetPostgresToken(string component);

    /// <summary>Records a Postgres write's token for <paramref name="component"/>; the response carries the later one
    /// back.</summary>
    void ObservePostgres(string component, ConsistencyToken token);

    /// <summary>The Redis token of <paramref name="component"/> (a <see cref="RedisDeployment"/>'s
    /// <see cref="RedisDeployment.Name"/>): the one the request arrived with, or a later write's of this request; empty
    /// when none. One token per component: a Redis token says nothing about another deployment.</summary>
    RedisConsistencyToken GetRedisToken(string component);

    /// <summary>Records a Redis write's token for <paramref name="component"/>; the response carries the latest one
    /// (<see cref="RedisConsistencyToken.Latest"/>) back.</summary>
    void ObserveRedis(string component, RedisConsistencyToken token);
}
