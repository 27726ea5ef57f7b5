namespace HaClient.Redis;

/// <summary>What a read asks of the engine: where it may go, and the token it must see (empty: none).</summary>
internal readonly record struct RedisReadIntent(RedisReadPreference Preference, RedisConsistencyToken After)
{
    public static implicit operator RedisReadIntent(RedisReadPreference preference) => new(preference, default);
}
