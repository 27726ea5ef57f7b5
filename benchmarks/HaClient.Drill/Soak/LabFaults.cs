namespace HaClient.Drill.Soak;

/// <summary>
/// The soak's fault catalogue on the lab: one row per named fault, each a lab verb and its heal. Adding a fault is one
/// row (a partition, for example:
/// <c>new("partition-primary", Lab("net cut primary"), FaultTarget.Postgres, FaultHold.NewPgPrimary, Lab("net heal") + " &amp;&amp; " + Lab("patroni restore"), HealedPg)</c>).
/// </summary>
public static class LabFaults
{
    /// <summary>The healed checks: lab verbs that exit 0 when that part of the lab is healthy again.</summary>
    public static readonly string HealedPg = Lab("soak healed-pg");
    public static readonly string HealedRedis = Lab("soak healed-redis");

    public static readonly IReadOnlyList<FaultSpec> Catalogue =
    [
        new("pg-crash", Lab("patroni crash-leader"), FaultTarget.Postgres, FaultHold.NewPgPrimary, Lab("patroni restore"), HealedPg),
        new("pg-kill-postmaster", Lab("patroni kill-postmaster"), FaultTarget.Postgres, FaultHold.NewPgPrimary, Lab("patroni restore"), HealedPg),
        new("pg-hang", Lab("patroni hang-leader"), FaultTarget.Postgres, FaultHold.NewPgPrimary, Lab("patroni resume") + " && " + Lab("patroni restore"), HealedPg, LeaseBugPossible: true),
        new("pg-lag", Lab("soak pg-lag"), FaultTarget.Postgres, FaultHold.Seconds, Lab("soak pg-unlag"), HealedPg, HoldSeconds: 6),
        new("pg-switchover", Lab("patroni switchover"), FaultTarget.Postgres, FaultHold.None, null, HealedPg),
        new("redis-crash", Lab("redis crash-master"), FaultTarget.Redis, FaultHold.NewRedisMaster, Lab("redis restore"), HealedRedis),
        new("redis-hang", Lab("redis hang-master"), FaultTarget.Redis, FaultHold.NewRedisMaster, Lab("redis resume") + " && " + Lab("redis restore"), HealedRedis),
        new("redis-failover", Lab("redis failover"), FaultTarget.Redis, FaultHold.None, null, HealedRedis),
        new("sentinel-loss", Lab("redis kill-sentinel"), FaultTarget.Redis, FaultHold.Seconds, Lab("redis restore"), HealedRedis, HoldSeconds: 5),
    ];

    /// <summary>The lab's Patroni cluster (synchronous mode is set by <c>patroni up --sync</c>).</summary>
    public const string Postgres = "Host=127.0.0.1:15442,127.0.0.1:15443,127.0.0.1:15444;Username=haclient;Password=haclient-lab-pw;Database=haclient";

    public static readonly string[] Sentinels = ["127.0.0.1:16479", "127.0.0.1:16480", "127.0.0.1:16481"];

    public const string RedisService = "haclient";

    /// <summary>A lab verb as a shell command run from the repository root.</summary>
    public static string Lab(string verbs) => "bash eng/lab.sh " + verbs;
}
