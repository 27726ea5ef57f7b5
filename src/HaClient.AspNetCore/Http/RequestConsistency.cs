using HaClient.Postgres;
using HaClient.Redis;

namespace HaClient.AspNetCore.Http;

/// <summary>The per-request <see cref="IReadYourWrites"/>: one Postgres token and one Redis token per component. The
/// members without a component name are the default Postgres cluster's (<see cref="DefaultPostgres"/>). Thread-safe:
/// parallel writes of one request may observe.</summary>
internal sealed class RequestConsistency(HighAvailabilityRegistry? registry = null) : IReadYourWrites
{
    /// <summary>The Postgres component the single-cluster members, header and cookie stand for: the only cluster
    /// registered, else the one named <c>default</c>, else the name <c>default</c> (a <see cref="PostgresCluster"/>
    /// created with its default name).</summary>
    internal string DefaultPostgres { get; } = registry?.DefaultPostgresName ?? "default";

    internal ComponentTokens<ConsistencyToken> Postgres { get; } = new(ConsistencyToken.Max);

    internal ComponentTokens<RedisConsistencyToken> Redis { get; } = new(RedisConsistencyToken.Latest);

    public ConsistencyToken Incoming => Postgres.Incoming(DefaultPostgres);

    public ConsistencyToken Token => Postgres.Get(DefaultPostgres);

    public ReadConsistency Consistency => ReadConsistency.AtLeast(Token);

    public void Observe(ConsistencyToken token) => Postgres.Observe(DefaultPostgres, token);

    public ConsistencyToken GetPostgresToken(string component)
    {
        ArgumentNullException.ThrowIfNull(component);
        return Postgres.Get(component);
    }

    public void ObservePostgres(string component, ConsistencyToken token)
    {
        ArgumentException.ThrowIfNullOrEmpty(component);
        Postgres.Observe(component, token);
    }

    public RedisConsistencyToken GetRedisToken(string component)
    {
        ArgumentNullException.ThrowIfNull(component);
        return Redis.Get(component);
    }

    public void ObserveRedis(string component, RedisConsistencyToken token)
    {
        ArgumentException.ThrowIfNullOrEmpty(component);
        Redis.Observe(component, token);
    }
}
