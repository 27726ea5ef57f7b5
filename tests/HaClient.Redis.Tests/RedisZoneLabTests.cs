namespace HaClient.Redis.Tests;

/// <summary>Zone-local and latency-aware replica reads against the Sentinel lab. The zones follow the current master
/// (an earlier failover test may have moved it): zone a = the master and one replica, zone b = the other replica, the
/// client in zone a.</summary>
[Collection("RedisLab")]
[Trait("Category", "Lab")]
public sealed class RedisZoneLabTests
{
    private static async Task<(int Master, int Local, int Remote)> NodesAsync()
    {
        var master = await RedisLabFixture.ActualMasterAsync() ?? throw new InvalidOperationException("no master");
        var replicas = RedisLabFixture.NodePorts.Where(p => p != master).ToArray();
        return (master, replicas[0], replicas[1]);
    }

    private static async Task<RedisDeployment> DeploymentAsync(Action<RedisOptions>? configure = null)
    {
        var o = RedisLabFixture.SentinelOptions();
        o.ProbeInterval = TimeSpan.FromMilliseconds(200);
        configure?.Invoke(o);
        var d = RedisDeployment.Create(o);
        Assert.True(await d.WaitForPrimaryAsync(TimeSpan.FromSeconds(10)));
        Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(d.Topology.Nodes.Count(n => n.Role == RedisNodeRole.Replica) == 2), TimeSpan.FromSeconds(20)), "both replicas were not seen");
        return d;
    }

    private static Task<int> ReadPortAsync(RedisDeployment d)
        => d.ExecuteReadAsync(async (db, _) =>
        {
            await db.PingAsync();
            return RedisLabFixture.Port(db);
        });

    [Fact]
    public async Task Replica_reads_stay_on_the_local_zone_replica()
    {
        var (master, local, remote) = await NodesAsync();
        await using var d = await DeploymentAsync(o =>
        {
            o.Zones["a"] = [$"127.0.0.1:{master}", $"127.0.0.1:{local}"];
            o.Zones["b"] = [$"127.0.0.1:{remote}"];
            o.LocalZone = "a";
        });
        var ports = new List<int>();
        for (var i = 0; i < 300; i++)
        {
            ports.Add(await ReadPortAsync(d));
        }

        Assert.True(ports.Count(p => p == local) >= 297, $"reads: local {ports.Count(p => p == local)}, remote {ports.Count(p => p == remote)}, master {ports.Count(p => p == master)}");
        Assert.Contains(d.Topology.Nodes, n => n.Endpoint.Port == remote && n.Zone == "b");
    }

    [Fact]
    public async Task A_browned_out_replica_gets_fewer_replica_reads()
    {
        var (_, slow, fast) = await NodesAsync();
        await using var d = await DeploymentAsync();
        try
        {
            await RedisLabFixture.RunAsync($"redis brownout {slow} 60", TimeSpan.FromSeconds(30));
            RedisNodeState Node(int port) => d.Topology.Nodes.First(n => n.Endpoint.Port == port);
            Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(Node(slow).ResponseTime > TimeSpan.FromMilliseconds(5) && Node(slow).ResponseTime > 4 * Node(fast).ResponseTime), TimeSpan.FromSeconds(20)),
                $"response times never told the replicas apart: slow {Node(slow).ResponseTime}, fast {Node(fast).ResponseTime}");
            var ports = new List<int>();
            for (var i = 0; i < 200; i++)
            {
                ports.Add(await ReadPortAsync(d));
            }

            Assert.True(ports.Count(p => p == slow) * 4 < ports.Count(p => p == fast), $"reads: browned-out {ports.Count(p => p == slow)}, healthy {ports.Count(p => p == fast)}");
        }
        finally
        {
            await RedisLabFixture.RunAsync("redis resume", TimeSpan.FromSeconds(60));
        }
    }
}
