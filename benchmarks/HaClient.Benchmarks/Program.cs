using BenchmarkDotNet.Running;

namespace HaClient.Benchmarks;

public static class Program
{
    // dotnet run -c Release --project benchmarks/HaClient.Benchmarks -- --filter '*'
    public static void Main(string[] args)
        => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, BenchConfig.Create());
}
