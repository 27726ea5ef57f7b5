using System.Diagnostics;
using System.Globalization;
using HaClient.Postgres;
using Npgsql;

namespace HaClient.Benchmarks;

/// <summary>
/// Loopback <c>SELECT 1</c> through raw Npgsql and HaClient's paths, interleaved: batches of 200 sequential calls per
/// variant in rotation (A B C D, B C D A, ...) for the given time, so load from other processes on a shared machine hits
/// every variant alike (BenchmarkDotNet measures one benchmark after another, so drifting load shows up as a
/// difference). Reports the median and quartiles of the per-batch mean, and each median's ratio to raw.
/// <c>dotnet HaClient.Benchmarks.dll --interleaved [seconds=60]</c>
/// </summary>
internal static class Interleaved
{
    private const string Pg = "Host=127.0.0.1;Port=15432;Username=haclient;Password=haclient-lab-pw;Database=haclient";
    private const int Batch = 200;

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
        var samples = variants.Select(_ => new List<double>()).ToArray();
        foreach (var v in variants)
        {
            for (var i = 0; i < 2_000; i++)
            {
                await v.Op();
            }
        }

        var load = File.ReadAllText("/proc/loadavg").Trim();
        var end = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
        for (var cycle = 0; Stopwatch.GetTimestamp() < end; cycle++)
        {
            for (var j = 0; j < variants.Length; j++)
            {
                // Rotate which variant goes first, so none always follows the same neighbour.
                var k = (j + cycle) % variants.Length;
                var op = variants[k].Op;
                var start = Stopwatch.GetTimestamp();
                for (var i = 0; i < Batch; i++)
                {
                    await op();
                }

                samples[k].Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds / Batch);
            }
        }

        var rawMedian = Quantile(samples[0], 0.5);
        Console.WriteLine($"interleaved SELECT 1 on 127.0.0.1:15432, {seconds:F0} s, batches of {Batch}, {samples[0].Count} batches per variant; loadavg at start: {load}; at end: {File.ReadAllText("/proc/loadavg").Trim()}");
        Console.WriteLine();
        Console.WriteLine("| variant | median µs/op | p25 | p75 | median vs raw |");
        Console.WriteLine("|---|---:|---:|---:|---:|");
        for (var k = 0; k < variants.Length; k++)
        {
            var m = Quantile(samples[k], 0.5);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {variants[k].Name} | {m:F2} | {Quantile(samples[k], 0.25):F2} | {Quantile(samples[k], 0.75):F2} | {(m / rawMedian - 1) * 100:+0.0;-0.0}% |"));
        }

        return 0;
    }

    private static double Quantile(List<double> values, double q)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(q * (sorted.Length - 1) + 0.5))];
    }

    private static async Task<int> SelectOneAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SELECT 1", connection);
        return (int)(await command.ExecuteScalarAsync(cancellationToken))!;
    }
}
