namespace HaClient.Drill.Soak;

/// <summary>
/// The soak's fault catalogues: one row per named fault, each a lab verb and its heal. <see cref="Catalogue"/> runs on
/// the loopback lab (Patroni, etcd, Redis and Sentinel on 127.0.0.1), <see cref="NetCatalogue"/> on the lab's net part
/// (every node in its own network namespace, eng/lab/netns.sh), which adds the partitions. Adding a fault is one row.
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

    public static readonly string NetHealedPg = Lab("net healed-pg");
    public static readonly string NetHealedRedis = Lab("net healed-redis");
    private static readonly string NetPgRestore = Lab("net patroni restore");
    private static readonly string NetRedisRestore = Lab("net redis restore");

    /// <summary>The net part's catalogue: the loopback faults on the nodes in namespaces, and the partitions (a cut is
    /// healed by <c>net heal all</c>, then the same restore; the healed checks also require no cut and no frozen
    /// process). <c>leader</c>/<c>master</c> name the node the REST majority / the Sentinels' majority names.</summary>
    public static readonly IReadOnlyList<FaultSpec> NetCatalogue =
    [
        new("pg-crash", Lab("net patroni crash-leader"), FaultTarget.Postgres, FaultHold.NewPgPrimary, NetPgRestore, NetHealedPg),
        new("pg-kill-postmaster", Lab("net patroni kill-postmaster"), FaultTarget.Postgres, FaultHold.NewPgPrimary, NetPgRestore, NetHealedPg),
        new("pg-hang", Lab("net patroni hang-leader"), FaultTarget.Postgres, FaultHold.NewPgPrimary, Lab("net patroni resume") + " && " + NetPgRestore, NetHealedPg, LeaseBugPossible: true),
        new("pg-lag", Lab("net patroni lag"), FaultTarget.Postgres, FaultHold.Seconds, Lab("net patroni unlag"), NetHealedPg, HoldSeconds: 6),
        new("pg-switchover", Lab("net patroni switchover"), FaultTarget.Postgres, FaultHold.None, null, NetHealedPg),
        new("partition-primary", Lab("net cut leader all"), FaultTarget.Postgres, FaultHold.NewPgPrimary, Lab("net heal all") + " && " + NetPgRestore, NetHealedPg),
        new("partition-dcs", Lab("net cut leader dcs"), FaultTarget.Postgres, FaultHold.NewPgPrimary, Lab("net heal all") + " && " + NetPgRestore, NetHealedPg),
        new("partition-client", Lab("net cut leader client"), FaultTarget.Postgres, FaultHold.Seconds, Lab("net heal all") + " && " + NetPgRestore, NetHealedPg, HoldSeconds: 8),
        new("redis-crash", Lab("net redis crash-master"), FaultTarget.Redis, FaultHold.NewRedisMaster, NetRedisRestore, NetHealedRedis),
        new("redis-hang", Lab("net redis hang-master"), FaultTarget.Redis, FaultHold.NewRedisMaster, Lab("net redis resume") + " && " + NetRedisRestore, NetHealedRedis),
        new("redis-failover", Lab("net redis failover"), FaultTarget.Redis, FaultHold.None, null, NetHealedRedis),
        new("sentinel-loss", Lab("net redis kill-sentinel"), FaultTarget.Redis, FaultHold.Seconds, NetRedisRestore, NetHealedRedis, HoldSeconds: 5),
        new("partition-sentinel-minority", Lab("net cut master dcs"), FaultTarget.Redis, FaultHold.NewRedisMaster, Lab("net heal all") + " && " + NetRedisRestore, NetHealedRedis),
    ];

    /// <summary>The catalogue of the soak's target.</summary>
    public static IReadOnlyList<FaultSpec> For(bool net) => net ? NetCatalogue : Catalogue;

    /// <summary>The lab's Patroni cluster (synchronous mode is set by <c>patroni up --sync</c>).</summary>
    public const string Postgres = "Host=127.0.0.1:15442,127.0.0.1:15443,127.0.0.1:15444;Username=haclient;Password=haclient-lab-pw;Database=haclient";

    public static readonly string[] Sentinels = ["127.0.0.1:16479", "127.0.0.1:16480", "127.0.0.1:16481"];

    public const string RedisService = "haclient";

    /// <summary>The replicas of the lab's Redis master (three nodes, loopback and net part alike).</summary>
    public const int RedisReplicas = 2;

    /// <summary>The net part's Patroni members p1-p3 (synchronous mode set by <c>net patroni sync true</c>).</summary>
    public const string NetPostgres = "Host=10.213.0.11:5432,10.213.0.12:5432,10.213.0.13:5432;Username=haclient;Password=haclient-lab-pw;Database=haclient";

    /// <summary>The net part's Patroni REST endpoints: the soak's client votes on them (<c>PatroniUrls</c>) and so does
    /// its observer.</summary>
    public static readonly string[] NetPatroniUrls = ["http://10.213.0.11:8008", "http://10.213.0.12:8008", "http://10.213.0.13:8008"];

    public static readonly string[] NetSentinels = ["10.213.0.21:26379", "10.213.0.22:26379", "10.213.0.23:26379"];

    /// <summary>A lab verb as a shell command run from the repository root.</summary>
    public static string Lab(string verbs) => "bash eng/lab.sh " + verbs;
}
