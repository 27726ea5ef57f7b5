namespace HaClient.Redis;

/// <summary>Where a read may go.</summary>
public enum RedisReadPreference
{
    /// <summary>A replica of the primary within <see cref="RedisOptions.MaxLagBytes"/>; the primary when none qualifies (if
    /// <see cref="RedisOptions.FallbackToPrimary"/>).</summary>
    ReplicaPreferred,

    /// <summary>Only the primary (read-your-writes).</summary>
    Primary,

    /// <summary>The primary while it is available; during a failover window (no primary verified, or its circuit open)
    /// a replica of the last primary within <see cref="RedisOptions.MaxLagBytes"/> of its last known offset, without
    /// waiting.</summary>
    PrimaryPreferred,
}
