using HaClient.Postgres;
using HaClient.Redis;

namespace HaClient.AspNetCore.Http;

/// <summary>The per-request <see cref="IReadYourWrites"/>. Thread-safe: parallel writes of one request may observe.</summary>
internal sealed class RequestConsistency : IReadYourWrites
{
    private readonly Lock _redisLock = new();
    private ulong _incoming;
    private ulong _current;
    private Dictionary<string, RedisConsistencyToken>? _redisIncoming;
    private Dictionary<string, RedisConsistencyToken>? _redis;

    public ConsistencyToken Incoming => new(Volatile.Read(ref _incoming));

    public ConsistencyToken Token => new(Interlocked.Read(ref _current));

    public ReadConsistency Consistency => ReadConsistency.AtLeast(Token);

    public void Observe(ConsistencyToken token)
    {
        var value = token.Lsn;
        var seen = Interlocked.Read(ref _current);
        while (value > seen)
        {
            var previous = Interlocked.CompareExchange(ref _current, value, seen);
            if (previous == seen)
            {
                return;
            }

            seen = previous;
        }
    }

    public RedisConsistencyToken GetRedisToken(string component)
    {
        ArgumentNullException.ThrowIfNull(component);
        lock (_redisLock)
        {
            return _redis is { } r && r.TryGetValue(component, out var t) ? t : default;
        }
    }

    public void ObserveRedis(string component, RedisConsistencyToken token)
    {
        ArgumentException.ThrowIfNullOrEmpty(component);
        if (token.IsEmpty)
        {
            return;
        }

        lock (_redisLock)
        {
            _redis ??= new(StringComparer.Ordinal);
            _redis[component] = RedisConsistencyToken.Latest(_redis.GetValueOrDefault(component), token);
        }
    }

    /// <summary>The Redis tokens to send back: every component's latest, and whether it differs from the incoming one.</summary>
    internal List<(string Component, RedisConsistencyToken Token, bool Changed)> RedisTokens()
    {
        lock (_redisLock)
        {
            var result = new List<(string, RedisConsistencyToken, bool)>(_redis?.Count ?? 0);
            foreach (var (name, token) in _redis ?? [])
            {
                result.Add((name, token, _redisIncoming is null || !_redisIncoming.TryGetValue(name, out var was) || was != token));
            }

            return result;
        }
    }

    /// <summary>Sets the Redis token component <paramref name="component"/> arrived with.</summary>
    internal void SetIncomingRedis(string component, RedisConsistencyToken token)
    {
        lock (_redisLock)
        {
            _redisIncoming ??= new(StringComparer.Ordinal);
            _redisIncoming[component] = token;
        }

        ObserveRedis(component, token);
    }

    /// <summary>Sets the token the request arrived with.</summary>
    internal void SetIncoming(ConsistencyToken token)
    {
        Volatile.Write(ref _incoming, token.Lsn);
        Observe(token);
    }
}
