using System.Diagnostics;
using System.Net;
using StackExchange.Redis;

namespace HaClient.Redis.Tests;

/// <summary>Runs eng/lab.sh redis verbs. The fixture brings the lab up once for the whole collection.</summary>
public sealed class RedisLabFixture : IAsyncLifetime
{
    public static readonly string RepoRoot = FindRepoRoot();

    public static readonly string[] Sentinels = ["127.0.0.1:16479", "127.0.0.1:16480", "127.0.0.1:16481"];

    public static readonly int[] NodePorts = [16379, 16380, 16381];

    public async Task InitializeAsync() => await RunAsync("redis up", TimeSpan.FromSeconds(90));

    public Task DisposeAsync() => Task.CompletedTask;

    public static async Task<string> RunAsync(string verbs, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo("bash", $"{Path.Combine(RepoRoot, "eng", "lab.sh")} {verbs}") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"lab.sh {verbs} did not finish within {timeout}");
        }

        var output = await stdout + await stderr;
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"lab.sh {verbs} failed ({p.ExitCode}): {output}");
        }

        return output;
    }

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

    private static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "HaClient.sln")))
            {
                return d.FullName;
            }
        }

        throw new InvalidOperationException("HaClient.sln not found above " + AppContext.BaseDirectory);
    }
}

[CollectionDefinition("RedisLab", DisableParallelization = true)]
public sealed class RedisLabCollection : ICollectionFixture<RedisLabFixture>
{
}
