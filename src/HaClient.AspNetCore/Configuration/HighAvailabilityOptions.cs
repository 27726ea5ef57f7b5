using HaClient.Postgres;
using HaClient.Redis;

namespace HaClient.AspNetCore;

/// <summary>The <c>HighAvailability</c> configuration section: every PostgreSQL cluster and Redis deployment the
/// application uses, by name, and the ASP.NET Core integration settings.</summary>
public sealed class HighAvailabilityOptions
{
    /// <summary>The name of the configuration section, <c>HighAvailability</c>.</summary>
    public const string SectionName = "HighAvailability";

    /// <summary>PostgreSQL clusters by name. Each is registered as a keyed <see cref="PostgresCluster"/>.</summary>
    public IDictionary<string, PostgresClusterOptions> Postgres { get; set; } = new Dictionary<string, PostgresClusterOptions>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Redis deployments by name. Each is registered as a keyed <see cref="RedisDeployment"/>.</summary>
    public IDictionary<string, RedisOptions> Redis { get; set; } = new Dictionary<string, RedisOptions>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Health endpoint settings.</summary>
    public HighAvailabilityHealthOptions Health { get; set; } = new();

    /// <summary>The distributed session store (ASP.NET Core session over a Redis deployment).</summary>
    public HighAvailabilitySessionOptions Session { get; set; } = new();

    /// <summary>How read-your-writes tokens travel between requests.</summary>
    public ReadYourWritesOptions ReadYourWrites { get; set; } = new();

    /// <summary>How long a graceful shutdown may take to drain in-flight requests before the clusters are disposed
    /// (sets <see cref="Microsoft.Extensions.Hosting.HostOptions.ShutdownTimeout"/>). Default 30 s.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The <c>Retry-After</c> a 503 answer carries when a backend is failing over. Default 1 s.</summary>
    public TimeSpan RetryAfter { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Leaves out HaClient's health checks (<c>haclient-live</c>, <c>haclient-ready</c>), as Aspire's
    /// integrations' switch of the same name does. Read when <c>AddHighAvailability</c> runs. Default
    /// <see langword="false"/>.</summary>
    public bool DisableHealthChecks { get; set; }

    /// <summary>Leaves out the registration of HaClient's activity source with OpenTelemetry tracing. Read when
    /// <c>AddHighAvailability</c> runs. Default <see langword="false"/>.</summary>
    public bool DisableTracing { get; set; }

    /// <summary>Leaves out the registration of HaClient's meter with OpenTelemetry metrics. Read when
    /// <c>AddHighAvailability</c> runs. Default <see langword="false"/>.</summary>
    public bool DisableMetrics { get; set; }

    /// <summary>Errors found while binding the configuration (reported at start-up by validation).</summary>
    internal List<string> ConfigurationErrors { get; } = [];
}

/// <summary>Settings of the health endpoints and checks.</summary>
public sealed class HighAvailabilityHealthOptions
{
    /// <summary>A host whose last probe is older than this counts as stale, which degrades its component. Default 10 s.</summary>
    public TimeSpan MaxProbeAge { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A replica lagging more than this (seconds) degrades its component. Default 30 s; <see langword="null"/> for no bound.</summary>
    public double? MaxReplicaLagSeconds { get; set; } = 30;
}

/// <summary>Settings of the distributed session store.</summary>
public sealed class HighAvailabilitySessionOptions
{
    /// <summary>The name of the Redis deployment (under <c>HighAvailability:Redis</c>) that stores sessions. When set,
    /// <see cref="HaClient.Redis.Caching.HaRedisCache"/> over that deployment is registered as the
    /// <see cref="Microsoft.Extensions.Caching.Distributed.IDistributedCache"/>.</summary>
    public string? Redis { get; set; }

    /// <summary>Prefix of every session key. Default <c>haclient:session:</c>.</summary>
    public string KeyPrefix { get; set; } = "haclient:session:";

    /// <summary>Replicas that must acknowledge each session write (Redis <c>WAIT</c>); <see langword="null"/> uses the
    /// deployment's <c>WaitReplicas</c>.</summary>
    public int? WaitReplicas { get; set; }

    /// <summary>The <c>WAIT</c> timeout; <see langword="null"/> uses the deployment's <c>WaitTimeout</c>.</summary>
    public TimeSpan? WaitTimeout { get; set; }
}

/// <summary>How the read-your-writes token travels between requests.</summary>
public sealed class ReadYourWritesOptions
{
    /// <summary>Whether the middleware reads and writes the token at all. Default <see langword="true"/>.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The request and response header; empty to not use a header. Default <c>X-HaClient-Consistency</c>.</summary>
    public string HeaderName { get; set; } = "X-HaClient-Consistency";

    /// <summary>The cookie; empty to not use a cookie. Default <c>haclient-ct</c>.</summary>
    public string CookieName { get; set; } = "haclient-ct";

    /// <summary>How long the cookie lives. Default 5 minutes (a replica normally catches up well within it).</summary>
    public TimeSpan CookieMaxAge { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Whether the tokens the middleware sends (headers and cookies) are protected with ASP.NET Core Data
    /// Protection (<c>IDataProtector</c>, purpose <c>HaClient.ReadYourWrites.v1</c>), and only protected ones are
    /// accepted back: a client can then neither forge a token nor read the position in it. Every instance behind the
    /// load balancer must share the Data Protection key ring (<c>services.AddDataProtection().PersistKeysTo…</c>), or a
    /// token issued by one is ignored by another. Default <see langword="false"/>: plain tokens, checked and capped as
    /// input.</summary>
    public bool ProtectTokens { get; set; }
}
