namespace HaClient.Redis;

/// <summary>A write's result and its read-your-writes token (the primary's replication offset just after the write).</summary>
/// <typeparam name="T">The work's result.</typeparam>
public readonly struct RedisWriteResult<T>
{
    /// <summary>Creates the result.</summary>
    public RedisWriteResult(T value, RedisConsistencyToken token)
    {
        Value = value;
        Token = token;
    }

    /// <summary>What the work returned.</summary>
    public T Value { get; }

    /// <summary>The token: give it to a later read (<c>ExecuteReadAfterAsync</c>) to see this write.</summary>
    public RedisConsistencyToken Token { get; }
}
