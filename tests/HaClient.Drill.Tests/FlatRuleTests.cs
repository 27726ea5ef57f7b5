using HaClient.Drill.Soak;

namespace HaClient.DrillTests;

/// <summary>The soak's flatness rule: end ≤ start × 1.2 + slack, connections compared as totals and the largest node.</summary>
public sealed class FlatRuleTests
{
    private static ResourceSample Sample(double heap = 10, int threads = 30, long timers = 40, int[]? pg = null, int[]? redis = null) => new()
    {
        GcHeapMb = heap, WorkingSetMb = 150, Threads = threads, ThreadPoolThreads = 4, Timers = timers,
        PgConnections = pg ?? [4, 3, 4], RedisConnections = redis ?? [2, 2, 2],
    };

    [Fact]
    public void Small_drift_and_connections_moving_with_the_primary_are_flat()
    {
        Assert.Empty(FlatRule.Check(Sample(), Sample(heap: 14, threads: 34, pg: [3, 6, 2])));
    }

    [Fact]
    public void A_connection_leak_of_one_per_fault_misses_the_rule()
    {
        var misses = FlatRule.Check(Sample(), Sample(pg: [4, 3, 44]));
        Assert.Contains(misses, m => m.StartsWith("pg_connections_total", StringComparison.Ordinal));
        Assert.Contains(misses, m => m.StartsWith("pg_connections_largest_node", StringComparison.Ordinal));
    }

    [Fact]
    public void Growing_heap_threads_or_timers_miss_the_rule()
    {
        var misses = FlatRule.Check(Sample(), Sample(heap: 60, threads: 80, timers: 200, redis: [2, 12, 2]));
        Assert.Contains(misses, m => m.StartsWith("gc_heap_mb", StringComparison.Ordinal));
        Assert.Contains(misses, m => m.StartsWith("threads", StringComparison.Ordinal));
        Assert.Contains(misses, m => m.StartsWith("timers", StringComparison.Ordinal));
        Assert.Contains(misses, m => m.StartsWith("redis_connections_largest_node", StringComparison.Ordinal));
    }
}
