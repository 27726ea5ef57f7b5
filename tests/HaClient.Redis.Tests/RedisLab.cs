using System.Diagnostics;
using System.Net;
using StackExchange.Redis;

namespace HaClient.Redis.Tests;

/// <summary>Runs eng/lab.sh redis verbs. The fixture brings the lab up once for the whole collection.</summary>
public sealed class RedisLabFixture : IAsyncLifetime
{
    public static readonly string[] Sentinels = ["127.0.0.1:16479", "127.0.0.1:16480", "127.0.0.1:16481"];

    public static readonly int[] NodePorts = [16379, 16380, 16381];

    public async Task InitializeAsync() => await RunAsync("redis up", TimeSpan.FromSeconds(90));

    public Task DisposeAsync() => Task.CompletedTask;

    /// <summary>Runs an eng/lab.sh verb through the shared lab driver (fails the test on a non-zero exit).</summary>
    public static Task<string> RunAsync(string verbs, TimeSpan timeout) => Lab.RunAsync(verbs, (int)timeout.TotalSeconds);

    public static Task<string> RestoreAsync() => RunAsync("redis restore", TimeSpan.FromSeconds(90));

    /// <summary>The port of the node whose ROLE says master, asked directly (independent of the client under test).</summary>
    public static async Task<int?> ActualMasterAsync()
    {
        foreach (var port in NodePorts)
        {
            if (await RoleAsync(port) == "master")
            {
                return port;
            }
        }

        return null;
    }

    public static async Task<string?> RoleAsync(int port)
    {
        var psi = new ProcessStartInfo("timeout", $"1 redis-cli -h 127.0.0.1 -p {port} ROLE") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var p = Process.Start(psi)!;
        var output = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        return p.ExitCode == 0 ? output.Split('\n')[0].Trim() : null;
    }

    public static RedisOptions SentinelOptions(TimeSpan? budget = null) => new()
    {
        Sentinels = Sentinels.ToList(),
        ServiceName = "haclient",
        Resilience = { OperationTimeout = budget ?? TimeSpan.FromSeconds(2) },
        WaitTimeout = TimeSpan.FromMilliseconds(500),
    };

    public static int Port(IDatabase db) => db.Multiplexer.GetEndPoints()[0] switch
    {
        IPEndPoint ip => ip.Port,
        DnsEndPoint dns => dns.Port,
        var e => throw new InvalidOperationException($"unexpected endpoint {e}"),
    };
}

[CollectionDefinition("RedisLab", DisableParallelization = true)]
public sealed class RedisLabCollection : ICollectionFixture<RedisLabFixture>
{
}
