using System.Globalization;

namespace HaClient.Benchmarks;

/// <summary>
/// Allocation per call, A against B in one process: both scenarios share the same clients and background monitors, and
/// alternate in rounds (A, B, B, A, ...), so what the machine does meanwhile (other builds, thread-pool timing, which
/// decides how often an await completes at once) falls on both alike. Prints each round and the median per scenario.
/// <c>dotnet HaClient.Benchmarks.dll --alloc-ab pg-raw pg-read [rounds] [ops per round]</c>
/// </summary>
internal static class AllocationAb
{
    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length < 3)
        {
            Console.Error.WriteLine("usage: --alloc-ab <scenario A> <scenario B> [rounds] [ops per round]");
            return 2;
        }

        var names = new[] { args[1], args[2] };
        var rounds = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 10;
        var ops = args.Length > 4 ? int.Parse(args[4], CultureInfo.InvariantCulture) : 20_000;
        await using var clients = await AllocationTypes.Clients.ConnectAsync(names.Any(n => n.StartsWith("redis", StringComparison.Ordinal)));
        if (names.Any(n => n.StartsWith("ef-", StringComparison.Ordinal) || n.StartsWith("ado-", StringComparison.Ordinal)))
        {
            await InterleavedEfCore.EnsureTableAsync(clients.Raw);
        }

        var scenarios = names.Select(clients.Scenario).ToArray();
        foreach (var op in scenarios)
        {
            for (var i = 0; i < 2_000; i++)
            {
                await op();
            }
        }

        var perOp = new[] { new List<double>(), new List<double>() };
        for (var r = 0; r < rounds; r++)
        {
            foreach (var k in r % 2 == 0 ? new[] { 0, 1 } : [1, 0])
            {
                var before = GC.GetTotalAllocatedBytes(precise: true);
                for (var i = 0; i < ops; i++)
                {
                    await scenarios[k]();
                }

                perOp[k].Add((double)(GC.GetTotalAllocatedBytes(precise: true) - before) / ops);
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"round {r + 1}: {names[0]} {perOp[0][^1]:F0} B/op, {names[1]} {perOp[1][^1]:F0} B/op"));
        }

        var a = Median(perOp[0]);
        var b = Median(perOp[1]);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"median over {rounds} rounds of {ops} ops: {names[0]} {a:F0} B/op, {names[1]} {b:F0} B/op, difference {b - a:+0;-0} B/op (process-wide, includes background monitors)"));
        return 0;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
