using System.Globalization;
using HaClient.Telemetry;
using Microsoft.Extensions.Caching.Distributed;
using StackExchange.Redis;

namespace HaClient.Redis.Caching;

/// <summary>
/// An <see cref="IDistributedCache"/> (ASP.NET Core session store) on a <see cref="RedisDeployment"/>:
/// <list type="bullet">
/// <item>Each entry is a hash (<c>data</c>, <c>absexp</c>, <c>sldexp</c>, <c>touched</c>, all times Unix ms) with a Redis TTL.</item>
/// <item>Reads are one <c>HMGET</c> and never write: served by the primary, or by a replica within the lag bound while the
/// primary is unavailable (a failover window does not reset sessions). Expiry is checked from the metadata.</item>
/// <item>Sliding expiration is refreshed lazily: <see cref="RefreshAsync"/> (and every write) moves the expiry only when a
/// quarter of the sliding window has passed since the last refresh; the TTL set is the window plus that quarter, so an
/// entry never expires earlier than its sliding window after the last access, and at most 25% later.</item>
/// <item>Writes go to the primary (in Redis Cluster mode, the entry's shard's) through <see cref="RedisDeployment.ExecuteKeyWriteAsync{T}"/>
/// with the configured durability (<c>WAIT</c>). A write that cannot be stored throws (<see cref="NoEligibleEndpointException"/>,
/// <see cref="WriteOutcomeUnknownException"/>, <see cref="ReplicationNotConfirmedException"/>); it is never dropped silently.</item>
/// </list>
/// </summary>
public sealed class HaRedisCache : IDistributedCache
{
    private const string SetScript = """
        redis.call('HSET', KEYS[1], 'data', ARGV[1], 'absexp', ARGV[2], 'sldexp', ARGV[3], 'touched', ARGV[4])
        if ARGV[5] ~= '-1' then redis.call('PEXPIREAT', KEYS[1], ARGV[5]) else redis.call('PERSIST', KEYS[1]) end
        return 1
        """;

    // Moves a sliding entry's expiry only when a quarter of its window has passed since the last refresh.
    private const string RefreshScript = """
        local m = redis.call('HMGET', KEYS[1], 'absexp', 'sldexp', 'touched')
        if not m[2] then return 0 end
        local sld = tonumber(m[2])
        if sld <= 0 then return 1 end
        local now = tonumber(ARGV[1])
        local touched = tonumber(m[3]) or 0
        if now - touched < sld / 4 then return 1 end
        local abs = tonumber(m[1])
        local exp = now + sld + math.floor(sld / 4)
        if abs > 0 and abs < exp then exp = abs end
        redis.call('HSET', KEYS[1], 'touched', ARGV[1])
        redis.call('PEXPIREAT', KEYS[1], exp)
        return 2
        """;

    private static readonly RedisValue[] Fields = ["data", "absexp", "sldexp", "touched"];
    private readonly RedisDeployment _deployment;
    private readonly HaRedisCacheOptions _options;
    private readonly WriteDurability _durability;
    private readonly TimeProvider _time;

    /// <summary>Creates the cache over <paramref name="deployment"/> (not owned: dispose the deployment yourself).</summary>
    public HaRedisCache(RedisDeployment deployment, HaRedisCacheOptions? options = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        _deployment = deployment;
        _options = options ?? new HaRedisCacheOptions();
        _time = timeProvider ?? TimeProvider.System;
        _durability = _options.WaitReplicas is null && _options.WaitTimeout is null
            ? WriteDurability.Default
            : new WriteDurability(_options.WaitReplicas ?? deployment.Options.WaitReplicas, _options.WaitTimeout ?? deployment.Options.WaitTimeout);
    }

    /// <inheritdoc />
    public async Task<byte[]?> GetAsync(string key, CancellationToken token = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        try
        {
            var values = await _deployment.ExecuteKeyReadAsync(
                Key(key),
                (db, _) => db.HashGetAsync(Key(key), Fields),
                RedisReadPreference.PrimaryPreferred,
                token).ConfigureAwait(false);
            var data = Decode(values, NowMs());
            Count("get", data is null ? "miss" : "hit");
            return data;
        }
        catch (Exception)
        {
            Count("get", "error");
            throw;
        }
    }

    /// <inheritdoc />
    public async Task SetAsync(string key, byte[] value, DistributedCacheEntryOptions options, CancellationToken token = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        ArgumentNullException.ThrowIfNull(options);
        var args = SetArgs(value, options);
        try
        {
            await _deployment.ExecuteKeyWriteAsync(
                Key(key),
                (db, _) => db.ScriptEvaluateAsync(SetScript, [Key(key)], args),
                _durability,
                token).ConfigureAwait(false);
            Count("set", "ok");
        }
        catch (Exception e)
        {
            Count("set", Outcome(e));
            throw;
        }
    }

    /// <inheritdoc />
    public async Task RefreshAsync(string key, CancellationToken token = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        try
        {
            var r = await _deployment.ExecuteKeyWriteAsync(
                Key(key),
                (db, _) => db.ScriptEvaluateAsync(RefreshScript, [Key(key)], [NowMs()]),
                _durability,
                token).ConfigureAwait(false);
            Count("refresh", (long)r switch { 0 => "miss", 1 => "skipped", _ => "ok" });
        }
        catch (Exception e)
        {
            Count("refresh", Outcome(e));
            throw;
        }
    }

    /// <inheritdoc />
    public async Task RemoveAsync(string key, CancellationToken token = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        try
        {
            await _deployment.ExecuteKeyWriteAsync(Key(key), (db, _) => db.KeyDeleteAsync(Key(key)), _durability, token).ConfigureAwait(false);
            Count("remove", "ok");
        }
        catch (Exception e)
        {
            Count("remove", Outcome(e));
            throw;
        }
    }

    /// <inheritdoc />
    public byte[]? Get(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var values = SyncDatabase(key, RedisReadPreference.PrimaryPreferred).HashGet(Key(key), Fields);
        var data = Decode(values, NowMs());
        Count("get", data is null ? "miss" : "hit");
        return data;
    }

    /// <inheritdoc />
    public void Set(string key, byte[] value, DistributedCacheEntryOptions options)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        ArgumentNullException.ThrowIfNull(options);
        var db = SyncDatabase(key, null);
        db.ScriptEvaluate(SetScript, [Key(key)], SetArgs(value, options));
        SyncWait(db);
        Count("set", "ok");
    }

    /// <inheritdoc />
    public void Refresh(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var db = SyncDatabase(key, null);
        db.ScriptEvaluate(RefreshScript, [Key(key)], [NowMs()]);
        SyncWait(db);
        Count("refresh", "ok");
    }

    /// <inheritdoc />
    public void Remove(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var db = SyncDatabase(key, null);
        db.KeyDelete(Key(key));
        SyncWait(db);
        Count("remove", "ok");
    }

    private IDatabase SyncDatabase(string key, RedisReadPreference? read)
    {
        if (!_options.AllowSynchronousOperations)
        {
            throw new InvalidOperationException("HaRedisCache: synchronous operations are disabled (they block a thread for up to the operation budget during a failover). Use the async methods, or set HaRedisCacheOptions.AllowSynchronousOperations.");
        }

        return read is { } p ? _deployment.GetKeyReadDatabase(Key(key), p) : _deployment.GetKeyWriteDatabase(Key(key));
    }

    private void SyncWait(IDatabase db)
    {
        var d = _durability.IsDefault ? new WriteDurability(_deployment.Options.WaitReplicas, _deployment.Options.WaitTimeout) : _durability;
        if (d.Replicas > 0)
        {
            var acked = (long)db.Execute("WAIT", d.Replicas, (long)d.Timeout.TotalMilliseconds);
            if (acked < d.Replicas)
            {
                throw new ReplicationNotConfirmedException(db.Multiplexer.GetEndPoints()[0].ToString() ?? "primary", d.Replicas, acked, d.Timeout);
            }
        }
    }

    private RedisValue[] SetArgs(byte[] value, DistributedCacheEntryOptions options)
    {
        var now = _time.GetUtcNow();
        var nowMs = now.ToUnixTimeMilliseconds();
        long abs = -1;
        if (options.AbsoluteExpiration is { } a)
        {
            if (a <= now)
            {
                throw new ArgumentOutOfRangeException(nameof(options), a, "The absolute expiration value must be in the future.");
            }

            abs = a.ToUnixTimeMilliseconds();
        }

        if (options.AbsoluteExpirationRelativeToNow is { } rel)
        {
            if (rel <= TimeSpan.Zero)
            {
                throw new ArgumentOutOfRangeException(nameof(options), rel, "The relative expiration value must be positive.");
            }

            var r = nowMs + (long)rel.TotalMilliseconds;
            abs = abs < 0 ? r : Math.Min(abs, r);
        }

        long sld = -1;
        if (options.SlidingExpiration is { } s)
        {
            if (s <= TimeSpan.Zero)
            {
                throw new ArgumentOutOfRangeException(nameof(options), s, "The sliding expiration value must be positive.");
            }

            sld = (long)s.TotalMilliseconds;
        }

        long exp = -1;
        if (sld > 0)
        {
            exp = nowMs + sld + (sld / 4);
        }

        if (abs > 0)
        {
            exp = exp < 0 ? abs : Math.Min(exp, abs);
        }

        return [value, abs, sld, nowMs, exp];
    }

    private static byte[]? Decode(RedisValue[] values, long nowMs)
    {
        if (values.Length < 4 || values[0].IsNull)
        {
            return null;
        }

        var abs = ToLong(values[1]);
        var sld = ToLong(values[2]);
        var touched = ToLong(values[3]);
        if (abs > 0 && nowMs >= abs)
        {
            return null;
        }

        if (sld > 0 && nowMs >= touched + sld + (sld / 4))
        {
            return null;
        }

        return (byte[]?)values[0];
    }

    private static long ToLong(RedisValue v) => v.IsNull ? -1 : long.Parse((string)v!, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);

    private long NowMs() => _time.GetUtcNow().ToUnixTimeMilliseconds();

    private RedisKey Key(string key) => _options.KeyPrefix + key;

    private static string Outcome(Exception e) => e switch
    {
        ReplicationNotConfirmedException => "not_replicated",
        WriteOutcomeUnknownException => "outcome_unknown",
        NoEligibleEndpointException => "no_master",
        _ => "error",
    };

    private static void Count(string operation, string outcome)
        => HaClientTelemetry.SessionOperations.Add(1, new KeyValuePair<string, object?>("operation", operation), new KeyValuePair<string, object?>("outcome", outcome));
}
