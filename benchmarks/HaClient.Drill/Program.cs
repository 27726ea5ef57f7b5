using HaClient.Drill;
using HaClient.Drill.Soak;

if (args.Length == 0 || args[0] is "--help" or "-h" or "help")
{
    Console.WriteLine(SoakProgram.Usage);
    return args.Length == 0 ? 2 : 0;
}

// haclient-drill run ... (a user's cluster) | soak ... (the lab's random soak): see Soak/SoakProgram.cs.
if (args[0] is "run" or "soak") return await SoakProgram.MainAsync(args[0], args[1..]);

var args2 = DrillArgs.Parse(args);
long unobserved = 0;
var unobservedKinds = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
TaskScheduler.UnobservedTaskException += (_, e) =>
{
    Interlocked.Increment(ref unobserved);
    var inner = e.Exception.InnerException;
    unobservedKinds.AddOrUpdate(inner is null ? "?" : inner.GetType().Name + ": " + inner.Message[..Math.Min(80, inner.Message.Length)] + " @ " + (inner.StackTrace?.Split('\n').FirstOrDefault()?.Trim() ?? ""), 1, (_, n) => n + 1);
};
DrillReport report = args2.Scenario switch
{
    "crash" or "hang" or "lag" or "switchover" or "kill-postmaster" or "plain-hang" => await PostgresDrill.RunAsync(args2),
    "brownout" or "zone-local" => await ReadDrill.RunAsync(args2),
    "partition-primary" or "partition-dcs" or "partition-client" or "disk-full" => await PartitionDrill.RunAsync(args2),
    "partition-sentinel-minority" => await HaClient.Drill.Redis.SentinelPartitionDrill.RunAsync(args2),
    "redis-crash" or "redis-hang" or "redis-switchover" or "session-failover" => await HaClient.Drill.Redis.RedisDrill.RunAsync(args2),
    "redis-cluster-crash" or "redis-cluster-hang" => await HaClient.Drill.Redis.ClusterDrill.RunAsync(args2),
    "redis-token" or "redis-cluster-token" => await HaClient.Drill.Redis.TokenDrill.RunAsync(args2),
    _ => throw new ArgumentException($"unknown scenario '{args2.Scenario}'"),
};
GC.Collect();
GC.WaitForPendingFinalizers();
report.Extra["unobserved_task_exceptions"] = Interlocked.Read(ref unobserved);
foreach (var (kind, n) in unobservedKinds.OrderByDescending(kv => kv.Value).Take(8))
{
    Console.WriteLine($"drill: unobserved task exception x{n}: {kind}");
}

report.PrintReadable(Console.Out);
Console.WriteLine(report.ToJson());
return 0;
