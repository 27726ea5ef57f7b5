using System.Diagnostics;
using System.Globalization;

namespace HaClient.Benchmarks;

/// <summary>
/// The interleaved A/B loop: batches of <see cref="Batch"/> sequential calls per variant in rotation (A B C, B C A, ...)
/// for the given time, so load from other processes on a shared machine hits every variant alike (BenchmarkDotNet
/// measures one benchmark after another, so drifting load shows up as a difference). Prints the median and quartiles
/// of the per-batch mean, each median's ratio to the first variant and the bytes allocated per call (all threads).
/// </summary>
internal static class InterleavedBatches
{
    public const int Batch = 200;

    public static async Task RunAsync<T>(string title, (string Name, Func<Task<T>> Op)[] variants, double seconds)
    {
        var samples = variants.Select(_ => new List<double>()).ToArray();
        var bytes = new long[variants.Length];
        var calls = new long[variants.Length];
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
                var allocated = GC.GetTotalAllocatedBytes(precise: false);
                var start = Stopwatch.GetTimestamp();
                for (var i = 0; i < Batch; i++)
                {
                    await op();
                }

                samples[k].Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds / Batch);
                bytes[k] += GC.GetTotalAllocatedBytes(precise: false) - allocated;
                calls[k] += Batch;
            }
        }

        var baseline = Quantile(samples[0], 0.5);
        Console.WriteLine($"{title}, {seconds:F0} s, batches of {Batch}, {samples[0].Count} batches per variant; loadavg at start: {load}; at end: {File.ReadAllText("/proc/loadavg").Trim()}");
        Console.WriteLine();
        Console.WriteLine($"| variant | median µs/op | p25 | p75 | median vs {variants[0].Name} | allocated B/op (all threads) |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        for (var k = 0; k < variants.Length; k++)
        {
            var m = Quantile(samples[k], 0.5);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {variants[k].Name} | {m:F2} | {Quantile(samples[k], 0.25):F2} | {Quantile(samples[k], 0.75):F2} | {(m / baseline - 1) * 100:+0.0;-0.0}% | {bytes[k] / calls[k]} |"));
        }
    }

    private static double Quantile(List<double> values, double q)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(q * (sorted.Length - 1) + 0.5))];
    }
}
