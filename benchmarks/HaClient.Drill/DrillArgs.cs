namespace HaClient.Drill;

/// <summary>Command-line arguments: <c>--scenario X --client haclient|npgsql|seredis --workload write|mixed
/// --duration-s 20 --fault-after-s 5 --budget-ms 2000 --sync --write-mode autocommit|transaction|transaction-retry
/// --via direct|pgbouncer --hedge-ms 0 --ladder-ms 0</c>.</summary>
public sealed class DrillArgs
{
    public string Scenario { get; set; } = "crash";
    public string Client { get; set; } = "haclient";
    public string Workload { get; set; } = "mixed";
    public double DurationSeconds { get; set; } = 25;
    public double FaultAfterSeconds { get; set; } = 5;
    public double BudgetMs { get; set; } = 2000;
    public bool Sync { get; set; }

    /// <summary>How HaClient writes: <c>autocommit</c> (<c>ExecuteWriteWithTokenAsync</c>, the default), <c>transaction</c>
    /// (<c>ExecuteTransactionAsync</c>: lost commits resolved) or <c>transaction-retry</c> (the same, and writes that did
    /// not commit run again).</summary>
    public string WriteMode { get; set; } = "autocommit";
    /// <summary>How the PostgreSQL clients reach the nodes: <c>direct</c>, or <c>pgbouncer</c> (the lab's PgBouncer in
    /// front of each node, transaction mode: 15452-15454 for the plain lab, 15462-15464 for Patroni).</summary>
    public string Via { get; set; } = "direct";

    /// <summary>Read drills (brownout, zone-local): HaClient hedges a read after this many ms (0: off).</summary>
    public double HedgeMs { get; set; }

    /// <summary>PostgreSQL drills: HaClient's bounded reads go on the degradation ladder with this most staleness (ms; 0:
    /// off): a replica beyond the lag bound when no fresh node and no primary can serve them.</summary>
    public double LadderMs { get; set; }
    public int Concurrency { get; set; } = 4;
    public int Sessions { get; set; } = 1000;

    /// <summary>plain-hang: how long after the freeze a standby is promoted.</summary>
    public double PromoteAfterSeconds { get; set; } = 1;

    /// <summary>The repository root (where eng/lab.sh is).</summary>
    public string RepoRoot { get; set; } = FindRepoRoot();

    public string LabScript => Path.Combine(RepoRoot, "eng", "lab.sh");

    public static DrillArgs Parse(string[] args)
    {
        var a = new DrillArgs();
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--scenario": a.Scenario = Next(); break;
                case "--client": a.Client = Next(); break;
                case "--workload": a.Workload = Next(); break;
                case "--duration-s": a.DurationSeconds = double.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
                case "--fault-after-s": a.FaultAfterSeconds = double.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
                case "--budget-ms": a.BudgetMs = double.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
                case "--concurrency": a.Concurrency = int.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
                case "--sessions": a.Sessions = int.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
                case "--promote-after-s": a.PromoteAfterSeconds = double.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
                case "--sync": a.Sync = true; break;
                case "--write-mode": a.WriteMode = Next(); break;
                case "--via": a.Via = Next(); break;
                case "--ladder-ms": a.LadderMs = double.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
                case "--hedge-ms": a.HedgeMs = double.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
                default: throw new ArgumentException($"unknown argument '{args[i]}'");
            }
        }

        if (a.WriteMode is not ("autocommit" or "transaction" or "transaction-retry")) throw new ArgumentException("--write-mode must be autocommit, transaction or transaction-retry");
        if (a.DurationSeconds is <= 0 or > 600) throw new ArgumentException("--duration-s must be in (0, 600]");
        if (a.Via is not ("direct" or "pgbouncer")) throw new ArgumentException("--via takes direct or pgbouncer");
        return a;
    }

    private static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "HaClient.sln"))) return d.FullName;
        }

        return Directory.GetCurrentDirectory();
    }
}
