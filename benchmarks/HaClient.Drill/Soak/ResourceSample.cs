using System.Diagnostics;
using System.Text.Json.Serialization;

namespace HaClient.Drill.Soak;

/// <summary>The client process's resource figures at one moment (after a full GC), and the servers' count of its
/// connections per node.</summary>
public sealed class ResourceSample
{
    [JsonPropertyName("at_s")] public double AtSeconds { get; init; }
    [JsonPropertyName("gc_heap_mb")] public double GcHeapMb { get; init; }
    [JsonPropertyName("working_set_mb")] public double WorkingSetMb { get; init; }

    /// <summary>The memory the GC has committed (heap plus free space it keeps).</summary>
    [JsonPropertyName("gc_committed_mb")] public double GcCommittedMb { get; init; }

    /// <summary>Linux: the resident anonymous memory (heaps, stacks, native allocations) and the resident file-backed
    /// pages (mapped assemblies and libraries) of the working set, from /proc/self/status; -1 elsewhere.</summary>
    [JsonPropertyName("rss_anon_mb")] public double RssAnonMb { get; init; } = -1;
    [JsonPropertyName("rss_file_mb")] public double RssFileMb { get; init; } = -1;
    [JsonPropertyName("threads")] public int Threads { get; init; }
    [JsonPropertyName("thread_pool_threads")] public int ThreadPoolThreads { get; init; }
    [JsonPropertyName("timers")] public long Timers { get; init; }

    /// <summary>Per PostgreSQL host: the workload's sessions in pg_stat_activity (application_name haclient-drill).</summary>
    [JsonPropertyName("pg_connections")] public int[] PgConnections { get; init; } = [];

    /// <summary>Per Redis node: HaClient's connections in CLIENT LIST (name haclient).</summary>
    [JsonPropertyName("redis_connections")] public int[] RedisConnections { get; init; } = [];

    internal static ResourceSample Take(double atSeconds, NodeObserver? pg, NodeObserver? redis)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        using var self = Process.GetCurrentProcess();
        return new ResourceSample
        {
            AtSeconds = Math.Round(atSeconds, 1),
            GcHeapMb = Math.Round(GC.GetTotalMemory(false) / 1048576.0, 2),
            WorkingSetMb = Math.Round(self.WorkingSet64 / 1048576.0, 1),
            GcCommittedMb = Math.Round(GC.GetGCMemoryInfo().TotalCommittedBytes / 1048576.0, 1),
            RssAnonMb = ProcStatus("RssAnon:"),
            RssFileMb = ProcStatus("RssFile:"),
            Threads = self.Threads.Count,
            ThreadPoolThreads = ThreadPool.ThreadCount,
            Timers = Timer.ActiveCount,
            PgConnections = pg?.ServerConnections() ?? [],
            RedisConnections = redis?.ServerConnections() ?? [],
        };
    }

    /// <summary>A /proc/self/status field in kB, as MB; -1 when it cannot be read.</summary>
    private static double ProcStatus(string field)
    {
        try
        {
            var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith(field, StringComparison.Ordinal));
            return line is not null && long.TryParse(line[field.Length..].Trim().Split(' ')[0], out var kb) ? Math.Round(kb / 1024.0, 1) : -1;
        }
        catch (IOException)
        {
            return -1;
        }
    }

    public string Short() => $"heap {GcHeapMb:0.0} MB (committed {GcCommittedMb:0}), ws {WorkingSetMb:0} MB (anon {RssAnonMb:0}, file {RssFileMb:0}), threads {Threads} (pool {ThreadPoolThreads}), timers {Timers}, pg conns [{string.Join(' ', PgConnections)}], redis conns [{string.Join(' ', RedisConnections)}]";
}

/// <summary>
/// The flatness rule for a long run: after warm-up, every figure at the end must be at most start × 1.2 + slack (GC heap
/// +16 MB, working set +48 MB, threads +8, thread-pool threads +8, timers +32; connections, the total over the nodes +2 per node and the largest node +2). A leak of one
/// connection, one timer or one thread per fault over 40 faults misses it; the thread pool's growth and shrinkage and
/// the GC's heap sizing do not.
/// </summary>
public static class FlatRule
{
    public const double Factor = 1.2;

    public static List<string> Check(ResourceSample start, ResourceSample end)
    {
        var misses = new List<string>();
        void One(string name, double s, double e, double slack)
        {
            if (e > s * Factor + slack) misses.Add($"{name} {s:0.##} -> {e:0.##} (limit {s * Factor + slack:0.##})");
        }

        One("gc_heap_mb", start.GcHeapMb, end.GcHeapMb, 16);
        One("working_set_mb", start.WorkingSetMb, end.WorkingSetMb, 48);
        One("threads", start.Threads, end.Threads, 8);
        One("thread_pool_threads", start.ThreadPoolThreads, end.ThreadPoolThreads, 8);
        One("timers", start.Timers, end.Timers, 32);
        // Connections follow the roles (the primary holds the write pool): the total over the nodes and the largest
        // per node are compared, not each node with itself.
        static double Total(int[] c) => c.Where(x => x > 0).Sum();
        static double Largest(int[] c) => c.DefaultIfEmpty(0).Max();
        if (start.PgConnections.Length > 0)
        {
            One("pg_connections_total", Total(start.PgConnections), Total(end.PgConnections), 2 * start.PgConnections.Length);
            One("pg_connections_largest_node", Largest(start.PgConnections), Largest(end.PgConnections), 2);
        }

        if (start.RedisConnections.Length > 0)
        {
            One("redis_connections_total", Total(start.RedisConnections), Total(end.RedisConnections), 2 * start.RedisConnections.Length);
            One("redis_connections_largest_node", Largest(start.RedisConnections), Largest(end.RedisConnections), 2);
        }

        return misses;
    }
}
