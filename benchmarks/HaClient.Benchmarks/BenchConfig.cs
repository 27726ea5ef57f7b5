using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;

namespace HaClient.Benchmarks;

/// <summary>One short job for the whole suite (about 5 minutes on 2 cores): 1 launch, 3 warmup and 12 measured
/// iterations of ~250 ms each. Enough to see a few-percent difference on loopback; not a publication-grade run.</summary>
internal static class BenchConfig
{
    public static IConfig Create()
        => ManualConfig.CreateEmpty()
            .AddJob(Job.Default
                .WithLaunchCount(1)
                .WithWarmupCount(3)
                .WithIterationCount(12)
                .WithIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(250))
                .WithId("Short12"))
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddColumnProvider(DefaultColumnProviders.Instance)
            .AddColumn(StatisticColumn.Median, StatisticColumn.P95)
            .AddExporter(MarkdownExporter.GitHub)
            .AddLogger(BenchmarkDotNet.Loggers.ConsoleLogger.Default)
            .WithSummaryStyle(SummaryStyle.Default.WithRatioStyle(RatioStyle.Percentage))
            .WithOptions(ConfigOptions.DisableLogFile);
}
