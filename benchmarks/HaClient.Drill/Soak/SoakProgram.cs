namespace HaClient.Drill.Soak;

/// <summary>The entry for <c>haclient-drill run|soak</c>: exit 0 when every test passed, 1 when a threshold was
/// missed, 2 for bad arguments.</summary>
public static class SoakProgram
{
    public const string Usage = """
        usage: haclient-drill run  --pg "Host=a:5432,b:5432,c:5432;Username=..;Password=..;Database=.." [--patroni http://a:8008,..] [--sentinels h:26379,..] [--redis-service mymaster] [--redis-password ..]
                                   (--fault "name=shell command" [--healed "name=shell command"] ... | --observe 60s)
                                   [--max-window 30s] [--max-call 2.5s] [--max-heal 120s] [--max-lost 0] [--max-stale 0] [--max-wrong-role 0] [--max-errors N]
                                   [--budget 2s] [--lag-bound 1s] [--settle 10s] [--heal-timeout 180s] [--warm-up 20s] [--concurrency 4]
               haclient-drill soak [--minutes 3] [--seed 17] [--only pg-crash,redis-failover,..] [--net] (the lab: Patroni in synchronous mode and Redis + Sentinel;
                                   --net: on the lab's net part, nodes in network namespaces, with the partitions in the catalogue)
        --patroni http://a:8008,..: the Patroni REST endpoints; the client then decides the leader by their majority (PatroniUrls), and a write
                                   acknowledged by a member after that majority named another leader is a wrong-role write.
               haclient-drill --scenario crash|hang|lag|switchover|... (the lab drills: bash eng/drill.sh --help)
        Each --fault runs once, in order: the command, then --settle, then the healed check (the given one, or: every node answers and one is primary).
        The report lists each test (warm-up, each fault) as PASSED or FAILED with its duration and details; the last line is one JSON object.
        """;

    public static async Task<int> MainAsync(string mode, string[] rest)
    {
        SoakArgs args;
        try
        {
            args = SoakArgs.Parse(mode, rest);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine("haclient-drill: " + e.Message);
            Console.Error.WriteLine(Usage);
            return 2;
        }

        if (mode == "soak")
        {
            args.Postgres = args.Net ? LabFaults.NetPostgres : LabFaults.Postgres;
            args.Sentinels.AddRange(args.Net ? LabFaults.NetSentinels : LabFaults.Sentinels);
            if (args.Net && args.PatroniUrls.Count == 0) args.PatroniUrls.AddRange(LabFaults.NetPatroniUrls);
            args.RedisService = LabFaults.RedisService;
        }

        var outcome = await new SoakRunner(args).RunAsync();
        outcome.Print(Console.Out);
        Console.WriteLine(outcome.ToJson());
        return outcome.Passed ? 0 : 1;
    }
}
