using System.Globalization;

namespace HaClient.Drill.Soak;

/// <summary>
/// The arguments of <c>haclient-drill run</c> (a user's own cluster) and <c>haclient-drill soak</c> (the lab's random
/// soak). Every bad value is refused with the argument's name; connection strings are kept, never echoed.
/// </summary>
public sealed class SoakArgs
{
    /// <summary><c>run</c>: the given faults, in order, once each (or <c>--observe</c>); <c>soak</c>: random faults from
    /// the lab catalogue back to back for <see cref="Minutes"/>.</summary>
    public string Mode { get; set; } = "run";

    /// <summary>A PostgreSQL connection string with several hosts (<c>Host=a:5432,b:5432,c:5432;...</c>), or null.</summary>
    public string? Postgres { get; set; }

    /// <summary>Patroni REST endpoints (<c>http://host:8008</c>): the client decides the leader by their majority
    /// (<c>PatroniUrls</c>) and the observer records what the majority names, for the wrong-role rule.</summary>
    public List<string> PatroniUrls { get; } = [];

    /// <summary>soak: on the lab's net part (nodes in network namespaces) with its catalogue, partitions included.</summary>
    public bool Net { get; set; }

    /// <summary>Redis Sentinels (<c>host:port</c>, comma-separated), or empty.</summary>
    public List<string> Sentinels { get; } = [];

    public string RedisService { get; set; } = "mymaster";
    public string? RedisPassword { get; set; }

    /// <summary>Redis writes wait for this many replicas (<c>WAIT</c>). Left out: 1 in <c>run</c> mode; in <c>soak</c> mode
    /// every replica the lab has (<see cref="LabFaults.RedisReplicas"/>), because only a write every replica holds is sure
    /// to survive a failover: Sentinel promotes the replica it last saw furthest ahead, not one that acknowledged the
    /// write. With <c>WAIT 1</c> of two replicas the 15-minute net soak (seed 1717, fault #12,
    /// partition-sentinel-minority) lost 4 acknowledged writes when the other replica was promoted.</summary>
    public int RedisWaitReplicas { get; set; } = 1;

    /// <summary>The faults of a <c>run</c>, in order; in <c>soak</c> mode the catalogue's names to draw from (all when empty).</summary>
    public List<FaultSpec> Faults { get; } = [];

    /// <summary>soak: restrict the catalogue to these names.</summary>
    public List<string> Only { get; } = [];

    /// <summary>Observe-only: no fault command, watch for this long while the user causes the fault by hand.</summary>
    public TimeSpan? Observe { get; set; }

    public double Minutes { get; set; } = 3;
    public int Seed { get; set; } = 17;
    public int MaxFaults { get; set; } = 500;
    public double BudgetMs { get; set; } = 2000;
    public double LagBoundMs { get; set; } = 1000;
    public int Concurrency { get; set; } = 4;

    /// <summary>After each fault command, watch at least this long before the heal check may pass.</summary>
    public TimeSpan Settle { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long the cluster may take to heal after a fault before the test fails.</summary>
    public TimeSpan HealTimeout { get; set; } = TimeSpan.FromSeconds(180);

    /// <summary>Before the first fault: the workload runs this long (pools fill, the thread pool grows).</summary>
    public TimeSpan WarmUp { get; set; } = TimeSpan.FromSeconds(20);

    public Thresholds Thresholds { get; } = new();

    /// <summary>Where eng/lab.sh is (soak mode and the lab's fault commands).</summary>
    public string RepoRoot { get; set; } = new DrillArgs().RepoRoot;

    public static SoakArgs Parse(string mode, IReadOnlyList<string> args)
    {
        var a = new SoakArgs { Mode = mode };
        var healed = new Dictionary<string, string>(StringComparer.Ordinal);
        int? waitReplicas = null;
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            string Next() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{name} needs a value");
            switch (name)
            {
                case "--pg": a.Postgres = Next(); break;
                case "--sentinels": a.Sentinels.AddRange(Split(Next(), name)); break;
                case "--patroni": a.PatroniUrls.AddRange(Split(Next(), name)); break;
                case "--net": a.Net = true; break;
                case "--redis-service": a.RedisService = Next(); break;
                case "--redis-password": a.RedisPassword = Next(); break;
                case "--redis-wait-replicas": waitReplicas = Int(Next(), name, 0, 10); break;
                case "--fault": a.Faults.Add(FaultSpec.ParseUserFault(Next())); break;
                case "--healed":
                    var (hn, hc) = FaultSpec.SplitNameEquals(Next(), name);
                    healed[hn] = hc;
                    break;
                case "--only": a.Only.AddRange(Split(Next(), name)); break;
                case "--observe": a.Observe = Duration(Next(), name); break;
                case "--minutes": a.Minutes = Double(Next(), name, 0.1, 240); break;
                case "--seed": a.Seed = Int(Next(), name, 0, int.MaxValue); break;
                case "--max-faults": a.MaxFaults = Int(Next(), name, 1, 10_000); break;
                case "--budget": a.BudgetMs = Duration(Next(), name).TotalMilliseconds; break;
                case "--lag-bound": a.LagBoundMs = Duration(Next(), name).TotalMilliseconds; break;
                case "--concurrency": a.Concurrency = Int(Next(), name, 1, 64); break;
                case "--settle": a.Settle = Duration(Next(), name); break;
                case "--heal-timeout": a.HealTimeout = Duration(Next(), name); break;
                case "--warm-up": a.WarmUp = Duration(Next(), name); break;
                case "--max-window": a.Thresholds.MaxWindowMs = Duration(Next(), name).TotalMilliseconds; break;
                case "--max-call": a.Thresholds.MaxCallMs = Duration(Next(), name).TotalMilliseconds; break;
                case "--max-heal": a.Thresholds.MaxHealMs = Duration(Next(), name).TotalMilliseconds; break;
                case "--max-lost": a.Thresholds.MaxLost = Int(Next(), name, 0, int.MaxValue); break;
                case "--max-stale": a.Thresholds.MaxStale = Int(Next(), name, 0, int.MaxValue); break;
                case "--max-wrong-role": a.Thresholds.MaxWrongRole = Int(Next(), name, 0, int.MaxValue); break;
                case "--max-errors": a.Thresholds.MaxErrors = Int(Next(), name, 0, int.MaxValue); break;
                case "--repo": a.RepoRoot = Next(); break;
                default: throw new ArgumentException($"unknown argument '{name}' (haclient-drill --help lists them)");
            }
        }

        a.RedisWaitReplicas = waitReplicas ?? (mode == "soak" ? LabFaults.RedisReplicas : 1);
        if (a.BudgetMs <= 0) throw new ArgumentException("--budget must be positive");
        if (a.LagBoundMs <= 0) throw new ArgumentException("--lag-bound must be positive");
        a.Thresholds.MaxCallMs ??= a.BudgetMs + 500;
        foreach (var (n, c) in healed)
        {
            var f = a.Faults.FirstOrDefault(x => x.Name == n) ?? throw new ArgumentException($"--healed {n}=...: no --fault named '{n}'");
            a.Faults[a.Faults.IndexOf(f)] = f with { HealedCheck = c };
        }

        if (mode == "run")
        {
            if (a.Postgres is null && a.Sentinels.Count == 0) throw new ArgumentException("give --pg \"Host=a,b,c;...\" and/or --sentinels host:port,...");
            if (a.Faults.Count == 0 && a.Observe is null) throw new ArgumentException("give at least one --fault \"name=shell command\", or --observe 60s");
            if (a.Faults.Count > 0 && a.Observe is not null) throw new ArgumentException("--observe and --fault exclude each other");
            if (a.Only.Count > 0) throw new ArgumentException("--only is for soak mode");
            if (a.Net) throw new ArgumentException("--net is for soak mode (the lab's net part)");
        }
        else
        {
            if (a.Faults.Count > 0 || a.Observe is not null) throw new ArgumentException("soak mode draws its faults from the lab catalogue: use --only NAME,... instead of --fault/--observe");
            var catalogue = LabFaults.For(a.Net);
            var unknown = a.Only.Where(n => catalogue.All(f => f.Name != n)).ToList();
            if (unknown.Count > 0) throw new ArgumentException($"--only: unknown fault '{unknown[0]}' (the {(a.Net ? "net part's " : "")}catalogue: {string.Join(", ", catalogue.Select(f => f.Name))})");
        }

        if (a.Postgres is not null) _ = PgTarget.Parse(a.Postgres);
        foreach (var s in a.Sentinels) _ = Endpoint.Parse(s, "--sentinels");
        foreach (var u in a.PatroniUrls)
        {
            if (!Uri.TryCreate(u, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                throw new ArgumentException($"--patroni '{u}': give http(s)://host:port addresses of the Patroni REST API, comma-separated");
            }
        }

        if (a.PatroniUrls.Count > 0 && a.Postgres is null && mode == "run") throw new ArgumentException("--patroni needs --pg");
        return a;
    }

    private static IEnumerable<string> Split(string v, string name)
    {
        var parts = v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return parts.Length > 0 ? parts : throw new ArgumentException($"{name} needs at least one value");
    }

    private static int Int(string v, string name, int min, int max)
        => int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n : throw new ArgumentException($"{name} '{v}': give a whole number in [{min}, {max}]");

    private static double Double(string v, string name, double min, double max)
        => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n : throw new ArgumentException($"{name} '{v}': give a number in [{min}, {max}]");

    /// <summary>A duration: <c>30s</c>, <c>500ms</c>, <c>2m</c>, or plain seconds (<c>30</c>); never negative.</summary>
    public static TimeSpan Duration(string v, string name)
    {
        var s = v.Trim();
        var (num, scale) = s.EndsWith("ms", StringComparison.Ordinal) ? (s[..^2], 1.0)
            : s.EndsWith('s') ? (s[..^1], 1000.0)
            : s.EndsWith('m') ? (s[..^1], 60_000.0)
            : (s, 1000.0);
        if (!double.TryParse(num, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) || n < 0 || double.IsInfinity(n))
        {
            throw new ArgumentException($"{name} '{v}': give a non-negative duration such as 30s, 500ms or 2m");
        }

        return TimeSpan.FromMilliseconds(n * scale);
    }
}

/// <summary>The verdict's limits: a test fails when one is missed. Null: not checked.</summary>
public sealed class Thresholds
{
    public double? MaxWindowMs { get; set; }
    public double? MaxCallMs { get; set; }
    public double? MaxHealMs { get; set; }
    public long MaxLost { get; set; }
    public long MaxStale { get; set; }
    public long MaxWrongRole { get; set; }
    public long? MaxErrors { get; set; }
}

/// <summary>A <c>host:port</c> pair.</summary>
public readonly record struct Endpoint(string Host, int Port)
{
    public static Endpoint Parse(string s, string argument)
    {
        var i = s.LastIndexOf(':');
        if (i <= 0 || !int.TryParse(s[(i + 1)..], NumberStyles.Integer, CultureInfo.InvariantCulture, out var port) || port is <= 0 or > 65535)
        {
            throw new ArgumentException($"{argument} '{s}': give host:port");
        }

        return new Endpoint(s[..i], port);
    }

    public override string ToString() => $"{Host}:{Port}";
}
