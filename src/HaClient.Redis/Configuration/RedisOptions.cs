using System.ComponentModel.DataAnnotations;
using HaClient.Resilience;

namespace HaClient.Redis;

/// <summary>
/// Settings of one Redis deployment. Set exactly one way to find the nodes: <see cref="Sentinels"/> with
/// <see cref="ServiceName"/> (Sentinel-managed primary and replicas), <see cref="Endpoints"/> (a plain primary/replica set,
/// the primary found by <c>ROLE</c>), or <see cref="Endpoints"/> with <see cref="Cluster"/> (Redis Cluster, handled by
/// StackExchange.Redis's own cluster support).
/// </summary>
public sealed class RedisOptions
{
    /// <summary>Sentinel addresses as <c>host:port</c> (port defaults to 26379).</summary>
    public IList<string> Sentinels { get; set; } = new List<string>();

    /// <summary>The name the Sentinels monitor the primary under (<c>sentinel monitor &lt;name&gt; ...</c>). Required with <see cref="Sentinels"/>.</summary>
    public string? ServiceName { get; set; }

    /// <summary>Redis node addresses as <c>host:port</c> (port defaults to 6379): the primary and replicas, or cluster seeds.</summary>
    public IList<string> Endpoints { get; set; } = new List<string>();

    /// <summary>Whether <see cref="Endpoints"/> are Redis Cluster seed nodes. Default <see langword="false"/>.</summary>
    public bool Cluster { get; set; }

    /// <summary>The ACL user for the data nodes (and the Sentinels), if any.</summary>
    public string? User { get; set; }

    /// <summary>The password for the data nodes (and the Sentinels), if any. Never logged, never in exception messages.</summary>
    public string? Password { get; set; }

    /// <summary>A copy without the password (what <see cref="RedisDeployment.Options"/> hands out, so that logging or
    /// serializing it leaks nothing).</summary>
    internal RedisOptions WithoutSecrets()
    {
        var copy = (RedisOptions)MemberwiseClone();
        copy.Password = null;
        copy.Sentinels = new List<string>(Sentinels);
        copy.Endpoints = new List<string>(Endpoints);
        copy.Zones = new Dictionary<string, IList<string>>(Zones.ToDictionary(z => z.Key, z => (IList<string>)new List<string>(z.Value ?? [])), StringComparer.OrdinalIgnoreCase);
        return copy;
    }

    /// <summary>How often the Sentinels and every node's <c>ROLE</c> are polled while the primary is healthy (pub/sub
    /// <c>+switch-master</c> notifications arrive in between). Default 1 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00", ErrorMessage = "ProbeInterval must be between 10 ms and 10 minutes.")]
    public TimeSpan ProbeInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often they are polled while no primary is known (a failover is under way). Default 20 ms.</summary>
    [Range(typeof(TimeSpan), "00:00:00.005", "00:01:00", ErrorMessage = "FailoverProbeInterval must be between 5 ms and 1 minute.")]
    public TimeSpan FailoverProbeInterval { get; set; } = TimeSpan.FromMilliseconds(20);

    /// <summary>The most time one probe (a Sentinel query or a <c>ROLE</c>) may take before the node counts as down. Default 500 ms.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00", ErrorMessage = "ProbeTimeout must be between 50 ms and 1 minute.")]
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>The TCP connect and handshake timeout of each connection. Default 1 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00", ErrorMessage = "ConnectTimeout must be between 50 ms and 1 minute.")]
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The most a replica may be behind its primary, in bytes of replication offset, and still serve reads.
    /// Default 1 MiB. 0 means only fully caught-up replicas.</summary>
    [Range(0L, long.MaxValue, ErrorMessage = "MaxLagBytes must be a non-negative number of bytes.")]
    public long MaxLagBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// Whether, while the Sentinels still name a lost primary, to follow a replica of that primary that reports itself
    /// promoted (<c>ROLE</c> changed from slave to master (primary) with no restart in between, and exactly one such node). Sentinel
    /// announces <c>+switch-master</c> only after reconfiguring the other replicas, about a second after the promotion;
    /// this follows the promotion itself. Default <see langword="true"/>.
    /// </summary>
    public bool FollowPromotedReplica { get; set; } = true;

    /// <summary>Whether reads go to the primary when no replica qualifies. Default <see langword="true"/>.</summary>
    public bool FallbackToPrimary { get; set; } = true;

    /// <summary>
    /// Sentinel mode: the zone of each node, as zone name → the nodes in it (<c>host:port</c> as the Sentinels report
    /// them): <c>"Zones": { "a": ["10.0.0.1:6379"], "b": ["10.0.0.2:6379"] }</c>. Nodes are discovered, so a node named
    /// here need not exist yet; a node in no zone is in none (never local). Default: empty (no zones).
    /// </summary>
    public IDictionary<string, IList<string>> Zones { get; set; } = new Dictionary<string, IList<string>>(StringComparer.OrdinalIgnoreCase);

    /// <summary>The application's zone, one of <see cref="Zones"/>: replica reads prefer replicas in it (see
    /// <see cref="ZonePolicy"/>), and read decisions carry the <c>haclient.zone_local</c> tag. Default
    /// <see langword="null"/>: no zone preference.</summary>
    public string? LocalZone { get; set; }

    /// <summary>How far a replica read may leave <see cref="LocalZone"/> (ignored while it is not set). Default
    /// <see cref="HaClient.Routing.ZonePolicy.PreferLocal"/>: local replicas, then replicas in other zones, then the
    /// primary (per <see cref="FallbackToPrimary"/>). <see cref="HaClient.Routing.ZonePolicy.LocalOnly"/>: local replicas,
    /// then the primary only if it is local. Within a zone, a replica of the lowest latency tier of recent <c>ROLE</c>
    /// round trips (<see cref="HaClient.Routing.ReadChoice.Tier"/>: replicas within a factor of 4 take turns).</summary>
    public HaClient.Routing.ZonePolicy ZonePolicy { get; set; } = HaClient.Routing.ZonePolicy.PreferLocal;

    /// <summary>TLS to the nodes and the Sentinels.</summary>
    [Required]
    public RedisTlsOptions Tls { get; set; } = new();

    /// <summary>
    /// A hook into every StackExchange.Redis <c>ConfigurationOptions</c> HaClient builds (each node's, each Sentinel's,
    /// the cluster's), run after HaClient's own settings, TLS included: a certificate validation callback, a credential
    /// provider, protocol settings. HaClient then restores what it depends on: the one endpoint of each connection, the
    /// Sentinel command map, <c>AbortOnConnectFail = false</c> and <c>BacklogPolicy.FailFast</c>. Code only (not bound
    /// from configuration).
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public Action<StackExchange.Redis.ConfigurationOptions>? ConfigureOptions { get; set; }

    /// <summary>Operation budget and per-node circuit breaker.</summary>
    [Required]
    public EndpointResilienceOptions Resilience { get; set; } = new();

    /// <summary>The number of replicas that must acknowledge a durable write (<c>WAIT numreplicas timeout</c>). Used by
    /// writes that ask for <see cref="WriteDurability.Default"/>; 0 (the default) means writes do not wait.</summary>
    [Range(0, 100, ErrorMessage = "WaitReplicas must be between 0 and 100.")]
    public int WaitReplicas { get; set; }

    /// <summary>The <c>WAIT</c> timeout. Default 500 ms. Must be shorter than <c>Resilience:OperationTimeout</c>.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:01:00", ErrorMessage = "WaitTimeout must be between 1 ms and 1 minute.")]
    public TimeSpan WaitTimeout { get; set; } = TimeSpan.FromMilliseconds(500);
}

/// <summary>How many replicas must confirm a write before it is acknowledged to the caller.</summary>
/// <param name="Replicas">Replicas that must acknowledge (0: do not wait).</param>
/// <param name="Timeout">How long <c>WAIT</c> may block.</param>
public readonly record struct WriteDurability(int Replicas, TimeSpan Timeout)
{
    /// <summary>Do not wait for replicas.</summary>
    public static WriteDurability None => new(0, TimeSpan.Zero);

    /// <summary>Use <see cref="RedisOptions.WaitReplicas"/> and <see cref="RedisOptions.WaitTimeout"/>.</summary>
    public static WriteDurability Default => new(-1, TimeSpan.Zero);

    /// <summary>Whether this asks for the configured default.</summary>
    public bool IsDefault => Replicas < 0;
}
