using BenchmarkDotNet.Running;

namespace HaClient.Benchmarks;

public static class Program
{
    // dotnet run -c Release --project benchmarks/HaClient.Benchmarks -- --filter '*'
    // dotnet benchmarks/HaClient.Benchmarks/bin/Release/net10.0/HaClient.Benchmarks.dll --alloc-types pg-read
    // dotnet benchmarks/HaClient.Benchmarks/bin/Release/net10.0/HaClient.Benchmarks.dll --alloc-ab pg-raw pg-read
    // dotnet benchmarks/HaClient.Benchmarks/bin/Release/net10.0/HaClient.Benchmarks.dll --interleaved-ef 60
    public static async Task<int> Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "--alloc-types")
        {
            return await AllocationTypes.RunAsync(args);
        }

        if (args.Length > 0 && args[0] == "--alloc-ab")
        {
            return await AllocationAb.RunAsync(args);
        }

        if (args.Length > 0 && args[0] == "--interleaved-ef")
        {
            return await InterleavedEfCore.RunAsync(args);
        }

        if (args.Length > 0 && args[0] == "--interleaved")
        {
            return await Interleaved.RunAsync(args);
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, BenchConfig.Create());
        return 0;
    }
}
