using System.Globalization;
using HaClient.Postgres;
using Npgsql;

namespace HaClient.Benchmarks;

/// <summary>
/// Loopback <c>SELECT 1</c> through raw Npgsql and HaClient's paths, interleaved (<see cref="InterleavedBatches"/>):
/// the median and quartiles of the per-batch mean, and each median's ratio to raw.
/// <c>dotnet HaClient.Benchmarks.dll --interleaved [seconds=60]</c>
/// </summary>
internal static class Interleaved
{
    private const string Pg = "Host=127.0.0.1;Port=15432;Username=haclient;Password=haclient-lab-pw;Database=haclient";

    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = args.Length > 1 ? double.Parse(args[1], CultureInfo.InvariantCulture) : 60;
        await using var raw = NpgsqlDataSource.Create(Pg);
        await using var cluster = PostgresCluster.Create(new PostgresClusterOptions { ConnectionString = Pg });
        await cluster.WaitForTopologyAsync(TimeSpan.FromSeconds(10));
        var variants = new (string Name, Func<Task<int>> Op)[]
        {
            ("raw NpgsqlDataSource", async () =>
            {
                await using var c = await raw.OpenConnectionAsync();
                return await SelectOneAsync(c, default);
            }),
            ("HaClient ExecuteReadAsync(Primary)", () => cluster.ExecuteReadAsync(SelectOneAsync, ReadConsistency.Primary)),
            ("HaClient OpenWriteConnectionAsync", async () =>
            {
                await using var c = await cluster.OpenWriteConnectionAsync();
                return await SelectOneAsync(c, default);
            }),
            ("HaClient ExecuteWriteAsync", () => cluster.ExecuteWriteAsync(SelectOneAsync)),
        };
        await InterleavedBatches.RunAsync("interleaved SELECT 1 on 127.0.0.1:15432", variants, seconds);
        return 0;
    }

    private static async Task<int> SelectOneAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SELECT 1", connection);
        return (int)(await command.ExecuteScalarAsync(cancellationToken))!;
    }
}
