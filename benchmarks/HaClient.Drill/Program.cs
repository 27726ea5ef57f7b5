using HaClient.Drill;

var args2 = DrillArgs.Parse(args);
DrillReport report = args2.Scenario switch
{
    "crash" or "hang" or "lag" or "switchover" or "kill-postmaster" or "plain-hang" => await PostgresDrill.RunAsync(args2),
    "brownout" or "zone-local" => await ReadDrill.RunAsync(args2),
    "partition-primary" or "partition-dcs" or "partition-client" or "disk-full" => await PartitionDrill.RunAsync(args2),
    "partition-sentinel-minority" => await HaClient.Drill.Redis.SentinelPartitionDrill.RunAsync(args2),
    "redis-crash" or "redis-hang" or "redis-switchover" or "session-failover" => await HaClient.Drill.Redis.RedisDrill.RunAsync(args2),
    "redis-cluster-crash" or "redis-cluster-hang" => await HaClient.Drill.Redis.ClusterDrill.RunAsync(args2),
    _ => throw new ArgumentException($"unknown scenario '{args2.Scenario}'"),
};
report.PrintReadable(Console.Out);
Console.WriteLine(report.ToJson());
return 0;
