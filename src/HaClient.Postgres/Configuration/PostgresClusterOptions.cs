using System.ComponentModel.DataAnnotations;
using HaClient.Failover;
using HaClient.Resilience;
using HaClient.Routing;

namespace HaClient.Postgres;

/// <summary>Settings of one PostgreSQL cluster: a primary and its streaming replicas.</summary>
public sealed class PostgresClusterOptions
{
    /// <summary>
    /// An Npgsql connection string: credentials, database and any Npgsql setting. Its <c>Host</c> may list the hosts
    /// (<c>Host=a:5432,b:5432</c>); <see cref="Hosts"/>, when set, replaces that list. Never logged.
    /// </summary>
    public string ConnectionString { get; set; } = string.Empty;

    /// <summary>
    /// Configures every Npgsql data source HaClient builds for this cluster (each host's request pool and its monitor
    /// source), after HaClient's own settings: type plugins (<c>b =&gt; b.UseNodaTime()</c>), client certificates or a
    /// custom root CA, a password provider for rotating credentials. Settings of the connection string belong in
    /// <see cref="ConnectionString"/>: HaClient derives each pool's size and timeouts from it. Code only; configuration
    /// does not bind it.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public Action<Npgsql.NpgsqlDataSourceBuilder>? ConfigureDataSourceBuilder { get; set; }

    /// <summary>
    /// The hosts as <c>host:port</c> (or <c>host</c>, using the connection string's port). Optional when the connection
    /// string's <c>Host</c> lists them.
    /// <para>
    /// A host behind a pooler (PgBouncer beside each node) is written <c>server:port via pooler:port</c>, for example
    /// <c>10.0.0.1:5432 via 10.0.0.1:6432</c>: requests go to the pooler, and the monitor watches the server itself
    /// (role, timeline, lag), because a pooler outlives its server and does not pass its role changes on. The monitor
    /// also checks the pooler path with <c>SELECT 1</c> each probe, so a pooler that is gone, or that accepts but cannot
    /// reach its server, takes its host out of routing. When the server cannot be reached from the client, name the
    /// pooler on both sides (<c>10.0.0.1:6432 via 10.0.0.1:6432</c>): the monitor then probes through the pooler.
    /// </para>
    /// <para>
    /// A pooled host's requests get <c>No Reset On Close=true</c> and <c>Max Auto Prepare=0</c> unless the connection
    /// string sets them (then it is logged as a warning at start-up): a pooler in transaction mode lends each transaction
    /// any server session. Writes check the server's role with one round trip (<c>in_hot_standby</c> does not pass
    /// through PgBouncer 1.18). Session state (<c>SET</c>, advisory locks, <c>LISTEN</c>, temporary tables,
    /// <c>NpgsqlCommand.Prepare</c>) does not survive a transaction there; keep it inside one transaction.
    /// </para>
    /// </summary>
    public IList<string> Hosts { get; set; } = new List<string>();

    /// <summary>How often each host's role, timeline and lag are probed. Default 1 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00", ErrorMessage = "ProbeInterval must be between 10 ms and 10 minutes.")]
    public TimeSpan ProbeInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often hosts are probed while no primary is known (a failover is under way). Default 25 ms.</summary>
    [Range(typeof(TimeSpan), "00:00:00.005", "00:01:00", ErrorMessage = "FailoverProbeInterval must be between 5 ms and 1 minute.")]
    public TimeSpan FailoverProbeInterval { get; set; } = TimeSpan.FromMilliseconds(25);

    /// <summary>The most time one probe (connect included) may take before the host is taken as down. Default 1 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00", ErrorMessage = "ProbeTimeout must be between 50 ms and 1 minute.")]
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Which replicas may serve reads.</summary>
    [Required]
    public ReplicaLagPolicy ReplicaLag { get; set; } = new();

    /// <summary>Whether reads go to the primary when no replica qualifies. Default <see langword="true"/>. When
    /// <see langword="false"/>, such a read fails with <see cref="NoEligibleEndpointException"/>. Token reads and strong
    /// reads always may use the primary.</summary>
    public bool FallbackToPrimary { get; set; } = true;

    /// <summary>
    /// The zone of each host, as zone name → the hosts in it (<c>host:port</c> or <c>host</c>, as in <see cref="Hosts"/>):
    /// <c>"Zones": { "eu-west-1a": ["db1:5432", "db2:5432"], "eu-west-1b": ["db3:5432"] }</c>. A host:port cannot be a
    /// configuration key (<c>:</c> separates sections), hence this shape. Every host named must be one of the cluster's; a
    /// host named in no zone is in none (never local). Shown in <see cref="PostgresHostState.Zone"/> and the health output.
    /// Default: empty (no zones).
    /// </summary>
    public IDictionary<string, IList<string>> Zones { get; set; } = new Dictionary<string, IList<string>>(StringComparer.OrdinalIgnoreCase);

    /// <summary>The application's own zone, one of <see cref="Zones"/>. When set, bounded reads prefer eligible replicas in
    /// it (see <see cref="ZonePolicy"/>), and read decisions carry the <c>haclient.zone_local</c> tag. Default
    /// <see langword="null"/>: no zone preference.</summary>
    public string? LocalZone { get; set; }

    /// <summary>How far a read may leave <see cref="LocalZone"/> (ignored while it is not set). Default
    /// <see cref="ZonePolicy.PreferLocal"/>: local replicas, then replicas in other zones, then the primary (per
    /// <see cref="FallbackToPrimary"/>). <see cref="ZonePolicy.LocalOnly"/>: local replicas, then the primary only if it is
    /// local, else <see cref="NoEligibleEndpointException"/>; token and strong reads still may use the primary. Within a
    /// zone, the read goes to the replica with the best balance of calls in flight and recent response time
    /// (<see cref="ReadChoice"/>).</summary>
    public ZonePolicy ZonePolicy { get; set; } = ZonePolicy.PreferLocal;

    /// <summary>
    /// The most connections HaClient opens to one host for requests (its pool's <c>Maximum Pool Size</c>; the monitor's
    /// one probe connection comes on top). Callers beyond it wait, within their budget, for a connection to be returned,
    /// instead of meeting the server's <c>max_connections</c> (<c>53300</c>) in a burst or after a failover. Default: the
    /// connection string's <c>Maximum Pool Size</c> when it sets one, else 40, well below PostgreSQL's default
    /// <c>max_connections</c> of 100. Setting both to different values is an error.
    /// </summary>
    [Range(1, 10_000, ErrorMessage = "MaxConnectionsPerHost must be between 1 and 10000.")]
    public int? MaxConnectionsPerHost { get; set; }

    /// <summary>The per-host connection cap when neither <see cref="MaxConnectionsPerHost"/> nor the connection string's
    /// <c>Maximum Pool Size</c> is set.</summary>
    public const int DefaultMaxConnectionsPerHost = 40;

    /// <summary>
    /// How many connections may be in the middle of opening at once to a host just adopted as primary; 0 (the default)
    /// = no bound. After a failover every caller turns to the new primary together, and its pool is empty; a bound
    /// spreads the opens (each is a fork and an authentication on the server, and a SCRAM key derivation on this
    /// machine) instead of starting up to <see cref="MaxConnectionsPerHost"/> of them in the same instant. Callers wait
    /// their turn within their budget; the bound lifts once <see cref="MaxConnectionsPerHost"/> opens have passed, or
    /// after 5 s. Off by default because it measured worse: with 8, the 400-caller crash storm's longest call ran
    /// 186-565 ms past its budget (3 runs) against 12-26 ms without a bound (2 runs), and the cap alone already kept
    /// every run free of <c>53300</c> (docs/lab-report.md).
    /// </summary>
    [Range(0, 10_000, ErrorMessage = "NewPrimaryConcurrentOpens must be between 0 (no bound) and 10000.")]
    public int NewPrimaryConcurrentOpens { get; set; }

    /// <summary>Operation budget and per-host circuit breaker.</summary>
    [Required]
    public EndpointResilienceOptions Resilience { get; set; } = new();

    /// <summary>Whether <see cref="PostgresCluster.ExecuteTransactionAsync{T}(Func{Npgsql.NpgsqlConnection, CancellationToken, Task{T}}, CancellationToken)"/>
    /// runs a transaction again when it provably did not commit. <see cref="WriteRetry.None"/> (the default): it fails with
    /// <see cref="WriteNotCommittedException"/>. Retry only work whose every effect is inside the transaction.</summary>
    public WriteRetry TransactionRetry { get; set; } = WriteRetry.None;

    /// <summary>Optional Patroni REST base addresses (<c>http://127.0.0.1:8008</c>). When set, the monitor also reads
    /// <c>/cluster</c>: a member Patroni does not name leader never gets a write while Patroni answers.</summary>
    public IList<string> PatroniUrls { get; set; } = new List<string>();

    /// <summary>A copy without secrets: the connection string loses its password (as Npgsql's own data source does
    /// unless <c>Persist Security Info</c> is set) and the Patroni addresses their user info. What
    /// <see cref="PostgresCluster.Options"/> hands out, so that logging or serializing it leaks nothing.</summary>
    internal PostgresClusterOptions WithoutSecrets()
    {
        var copy = (PostgresClusterOptions)MemberwiseClone();
        try
        {
            copy.ConnectionString = new Npgsql.NpgsqlConnectionStringBuilder(ConnectionString) { Password = null }.ConnectionString;
        }
        catch (ArgumentException)
        {
            copy.ConnectionString = string.Empty;
        }

        copy.Hosts = new List<string>(Hosts);
        copy.Zones = new Dictionary<string, IList<string>>(Zones.ToDictionary(z => z.Key, z => (IList<string>)new List<string>(z.Value ?? [])), StringComparer.OrdinalIgnoreCase);
        copy.PatroniUrls = PatroniUrls.Select(u => Uri.TryCreate(u, UriKind.Absolute, out var uri) && uri.UserInfo.Length > 0
            ? new UriBuilder(uri) { UserName = string.Empty, Password = string.Empty }.Uri.ToString()
            : u).ToList();
        return copy;
    }
}

/// <summary>The replication lag a replica may have and still serve reads. A replica qualifies only within every bound
/// that is set.</summary>
public sealed class ReplicaLagPolicy
{
    /// <summary>The most staleness in time: a replica serves bounded reads only while it holds every write the primary had
    /// acknowledged this long ago, judged against the primary's WAL positions (sampled every 200 ms), not the replica's
    /// own report. Default 5 s; <see langword="null"/> for no time bound. Written as <c>hh:mm:ss[.fff]</c>.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00", ErrorMessage = "MaxLagTime must be between 0 and 1 hour, written as hh:mm:ss (e.g. 00:00:05 for 5 seconds).")]
    public TimeSpan? MaxLagTime { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The most replay lag in bytes of WAL behind the primary. Default <see langword="null"/> (no byte bound).</summary>
    [Range(0L, long.MaxValue, ErrorMessage = "MaxLagBytes must be a non-negative number of bytes.")]
    public long? MaxLagBytes { get; set; }
}
