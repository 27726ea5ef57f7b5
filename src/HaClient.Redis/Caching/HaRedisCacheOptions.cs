using System.ComponentModel.DataAnnotations;

namespace HaClient.Redis.Caching;

/// <summary>Settings of <see cref="HaRedisCache"/>.</summary>
public sealed class HaRedisCacheOptions
{
    /// <summary>Prefix of every key. Default <c>haclient:session:</c>.</summary>
    [Required(AllowEmptyStrings = true)]
    public string KeyPrefix { get; set; } = "haclient:session:";

    /// <summary>Replicas that must acknowledge each write (<c>WAIT</c>). <see langword="null"/> (default) uses
    /// <see cref="RedisOptions.WaitReplicas"/>; 0 means writes do not wait.</summary>
    [Range(0, 100, ErrorMessage = "WaitReplicas must be between 0 and 100.")]
    public int? WaitReplicas { get; set; }

    /// <summary>The <c>WAIT</c> timeout. <see langword="null"/> (default) uses <see cref="RedisOptions.WaitTimeout"/>.</summary>
    public TimeSpan? WaitTimeout { get; set; }

    /// <summary>
    /// Whether the synchronous <see cref="Microsoft.Extensions.Caching.Distributed.IDistributedCache"/> methods are
    /// allowed. Default <see langword="false"/>: they throw <see cref="InvalidOperationException"/>, because a blocking
    /// call during a failover ties up a thread-pool thread for up to the operation budget. When <see langword="true"/>
    /// they make one attempt with StackExchange.Redis's synchronous API (bounded by its SyncTimeout, no failover wait).
    /// </summary>
    public bool AllowSynchronousOperations { get; set; }
}
