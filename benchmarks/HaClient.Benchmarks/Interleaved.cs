using System.Globalization;
using HaClient.Postgres;
using Npgsql;

namespace HaClient.Benchmarks;

/// <summary>
/// Loopback <c>SELECT 1</c> through raw Npgsql and HaClient's paths, interleaved (<see cref="InterleavedBatches"/>):
/// the median and quartiles of the per-batch mean, and each median's ratio to raw.
/// <c>dotnet HaClient.Benchmarks.dll --interleaved [seconds=60] [yield]</c>. With <c>yield</c> each call yields once
/// instead of sending <c>SELECT 1</c>: HaClient's own cost per call without the round trip's noise.
/// </summary>
internal static class Interleaved
{
    private const string Pg = "Host=127.0.0.1;Port=15432;Username=haclient;Password=haclient-lab-pw;Database=haclient";

    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = args.Length > 1 ? double.Parse(args[1], CultureInfo.InvariantCulture) : 60;
        var yieldOnly = args.Length > 2 && args[2] == "yield";
        Func<NpgsqlConnection, CancellationToken, Task<int>> work = yieldOnly ? YieldAsync : SelectOneAsync;
        await using var raw = NpgsqlDataSource.Create(Pg);
        await using var cluster = PostgresCluster.Create(new PostgresClusterOptions { ConnectionString = Pg });
        await cluster.WaitForTopologyAsync(TimeSpan.FromSeconds(10));
        var variants = new (string Name, Func<Task<int>> Op)[]
        {
            ("raw NpgsqlDataSource", async () =>
            {
                await using var c = await raw.OpenConnectionAsync();
                return await work(c, default);
            }),
            ("HaClient ExecuteReadAsync(Primary)", () => cluster.ExecuteReadAsync(work, ReadConsistency.Primary)),
            ("HaClient OpenWriteConnectionAsync", async () =>
            {
                await using var c = await cluster.OpenWriteConnectionAsync();
                return await work(c, default);
            }),
            ("HaClient ExecuteWriteAsync", () => cluster.ExecuteWriteAsync(work)),
        };
        await InterleavedBatches.RunAsync(yieldOnly ? "interleaved open+yield+close on 127.0.0.1:15432" : "interleaved SELECT 1 on 127.0.0.1:15432", variants, seconds);
        return 0;
    }

    private static async Task<int> YieldAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await Task.Yield();
        return connection.ProcessID;
    }

    private static async Task<int> SelectOneAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SELECT 1", connection);
        return (int)(await command.ExecuteScalarAsync(cancellationToken))!;
    }
}
