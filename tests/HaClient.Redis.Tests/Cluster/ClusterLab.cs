using System.Diagnostics;
using System.Net;
using HaClient.Testing;
using StackExchange.Redis;

namespace HaClient.Redis.Tests;

/// <summary>Runs eng/lab.sh cluster verbs. The fixture brings the cluster up once for the whole collection.</summary>
public sealed class ClusterLabFixture : IAsyncLifetime
{
    public static readonly int[] NodePorts = [17001, 17002, 17003, 17004, 17005, 17006];

    /// <summary>The first slot of each lab shard (shard N of the lab verbs is index N-1).</summary>
    public static readonly int[] FirstSlots = [0, 5461, 10923];

    public async Task InitializeAsync() => await Lab.RunAsync("cluster up", 90);

    public Task DisposeAsync() => Task.CompletedTask;

    public static Task<string> RunAsync(string verbs) => Lab.RunAsync(verbs, 60);

    public static Task<string> RestoreAsync() => Lab.RunAsync("cluster restore", 90);

    public static RedisOptions Options(TimeSpan? budget = null, params int[] seeds) => new()
    {
        Endpoints = (seeds.Length > 0 ? seeds : NodePorts).Select(p => $"127.0.0.1:{p}").ToList(),
        Cluster = true,
        Resilience = { OperationTimeout = budget ?? TimeSpan.FromSeconds(2) },
        WaitTimeout = TimeSpan.FromMilliseconds(500),
    };

    /// <summary>A fresh key whose slot is in lab shard <paramref name="shard"/> (0-2).</summary>
    public static string KeyOf(int shard, string prefix = "t:cl:")
    {
        var lo = FirstSlots[shard];
        var hi = shard + 1 < FirstSlots.Length ? FirstSlots[shard + 1] : ClusterSlot.Count;
        for (var i = 0; i < 100_000; i++)
        {
            var key = $"{prefix}{Guid.NewGuid():N}";
            var slot = ClusterSlot.Of(key);
            if (slot >= lo && slot < hi)
            {
                return key;
            }
        }

        throw new InvalidOperationException("no key found");
    }

    /// <summary>The port of the node that owns <paramref name="slot"/>, asked of the lab (independent of the client).</summary>
    public static async Task<int?> OwnerAsync(int slot)
    {
        var output = await Lab.RunAsync("cluster status", 30);
        var line = output.Split('\n').FirstOrDefault(l => l.StartsWith("shard ", StringComparison.Ordinal) && l.Contains($"slots={slot}-", StringComparison.Ordinal));
        var master = line?.Split(' ').FirstOrDefault(f => f.StartsWith("master=", StringComparison.Ordinal))?["master=".Length..];
        return int.TryParse(master, out var port) ? port : null;
    }

    public static async Task<string?> RoleAsync(int port)
    {
        var psi = new ProcessStartInfo("timeout", $"1 redis-cli -h 127.0.0.1 -p {port} ROLE") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var p = Process.Start(psi)!;
        var output = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        return p.ExitCode == 0 ? output.Split('\n')[0].Trim() : null;
    }

    public static int Port(IDatabase db) => db.Multiplexer.GetEndPoints()[0] switch
    {
        IPEndPoint ip => ip.Port,
        DnsEndPoint dns => dns.Port,
        var e => throw new InvalidOperationException($"unexpected endpoint {e}"),
    };
}

[CollectionDefinition("RedisClusterLab", DisableParallelization = true)]
public sealed class RedisClusterLabCollection : ICollectionFixture<ClusterLabFixture>
{
}
