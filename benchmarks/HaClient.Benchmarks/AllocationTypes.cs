using System.Diagnostics.Tracing;
using HaClient.EntityFrameworkCore;
using HaClient.Postgres;
using Microsoft.EntityFrameworkCore;
using HaClient.Redis;
using Npgsql;
using StackExchange.Redis;

namespace HaClient.Benchmarks;

/// <summary>
/// Which types a call allocates: runs one scenario sequentially many times while listening to the runtime's sampled
/// GC AllocationTick events (one per ~100 KB, with the type name), and prints the sampled bytes per operation by type.
/// <c>dotnet HaClient.Benchmarks.dll --alloc-types pg-read|pg-raw|pg-openwrite|pg-write|ado-raw|ado-haclient|ef-plain|ef-plain-ext|ef-haclient|redis-get|redis-get-raw|redis-set|redis-set-raw [ops] [types=40]</c>
/// </summary>
internal static class AllocationTypes
{
    private const string Pg = "Host=127.0.0.1;Port=15432;Username=haclient;Password=haclient-lab-pw;Database=haclient";

    public static async Task<int> RunAsync(string[] args)
    {
        var scenario = args.Length > 1 ? args[1] : "pg-read";
        var ops = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 100_000;
        var types = args.Length > 3 ? int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture) : 40;
        await using var clients = await Clients.ConnectAsync(scenario.StartsWith("redis", StringComparison.Ordinal));
        if (scenario.StartsWith("ef-", StringComparison.Ordinal))
        {
            await InterleavedEfCore.EnsureTableAsync(clients.Raw);
        }

        var op = clients.Scenario(scenario);
        for (var i = 0; i < 2_000; i++)
        {
            await op();
        }

        using var listener = new AllocListener();
        var before = GC.GetTotalAllocatedBytes(precise: true);
        for (var i = 0; i < ops; i++)
        {
            await op();
        }

        var total = GC.GetTotalAllocatedBytes(precise: true) - before;
        listener.Stop();
        Console.WriteLine($"scenario {scenario}: {ops} ops, {(double)total / ops:F0} B/op allocated (process-wide, includes background monitors)");
        Console.WriteLine("sampled bytes/op by type (AllocationTick, ~100 KB sampling):");
        foreach (var (type, bytes) in listener.ByType.OrderByDescending(p => p.Value).Take(types))
        {
            Console.WriteLine($"  {bytes / (double)ops,8:F1}  {Shorten(type)}");
        }

        return 0;
    }

    /// <summary>Generic arguments elided: <c>Box`1[Polly.Outcome`1[...],Polly...ExecuteCore...]</c> is unreadable in full.</summary>
    private static string Shorten(string type)
    {
        var sb = new System.Text.StringBuilder();
        var depth = 0;
        foreach (var ch in type)
        {
            if (ch == '[')
            {
                depth++;
                if (depth == 2)
                {
                    sb.Append("[..]");
                }
            }

            if (depth < 2)
            {
                sb.Append(ch);
            }

            if (ch == ']')
            {
                depth--;
            }
        }

        return sb.ToString();
    }

    private static async Task<int> SelectOneAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SELECT 1", connection);
        return (int)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>The clients every scenario runs on: raw Npgsql and a cluster on the plain lab's primary, and for Redis
    /// scenarios a deployment over the lab's Sentinels and a raw multiplexer to its primary.</summary>
    internal sealed class Clients : IAsyncDisposable
    {
        public required NpgsqlDataSource Raw { get; init; }
        public required PostgresCluster Cluster { get; init; }
        public RedisDeployment? Redis { get; init; }
        public ConnectionMultiplexer? Mux { get; init; }

        public static async Task<Clients> ConnectAsync(bool withRedis)
        {
            var cluster = PostgresCluster.Create(new PostgresClusterOptions { ConnectionString = Pg });
            await cluster.WaitForTopologyAsync(TimeSpan.FromSeconds(10));
            RedisDeployment? redis = null;
            ConnectionMultiplexer? mux = null;
            if (withRedis)
            {
                redis = RedisDeployment.Create(new RedisOptions { Sentinels = { "127.0.0.1:16479", "127.0.0.1:16480", "127.0.0.1:16481" }, ServiceName = "haclient" });
                await redis.WaitForPrimaryAsync(TimeSpan.FromSeconds(10));
                mux = await ConnectionMultiplexer.ConnectAsync(redis.CurrentPrimary!);
            }

            return new Clients { Raw = NpgsqlDataSource.Create(Pg), Cluster = cluster, Redis = redis, Mux = mux };
        }

        private Microsoft.EntityFrameworkCore.DbContextOptions? _plainEf;
        private Microsoft.EntityFrameworkCore.DbContextOptions? _routedEf;
        private Microsoft.EntityFrameworkCore.DbContextOptions? _plainExtEf;

        private static Microsoft.EntityFrameworkCore.DbContextOptionsBuilder WithNoOpExtension(Microsoft.EntityFrameworkCore.DbContextOptionsBuilder builder)
        {
            ((Microsoft.EntityFrameworkCore.Infrastructure.IDbContextOptionsBuilderInfrastructure)builder).AddOrUpdateExtension(new NoOpExtension());
            return builder;
        }

        public Func<Task> Scenario(string scenario)
            => scenario switch
            {
                "pg-raw" => async () =>
                {
                    await using var c = await Raw.OpenConnectionAsync();
                    await SelectOneAsync(c, default);
                },
                "pg-read" => () => Cluster.ExecuteReadAsync(SelectOneAsync, ReadConsistency.Primary),
                "pg-openwrite" => async () =>
                {
                    await using var c = await Cluster.OpenWriteConnectionAsync();
                    await SelectOneAsync(c, default);
                },
                "pg-write" => () => Cluster.ExecuteWriteAsync(SelectOneAsync),
                "ef-plain" => () => InterleavedEfCore.OneRowAsync(_plainEf ??= new Microsoft.EntityFrameworkCore.DbContextOptionsBuilder().UseNpgsql(Raw).Options),
                // The same one-row query without EF Core: the core path (HaClient's open against a raw pool's).
                "ado-raw" => async () =>
                {
                    await using var c = await Raw.OpenConnectionAsync();
                    await InterleavedEfCore.OneRowAsync(c);
                },
                "ado-haclient" => async () =>
                {
                    await using var c = await Cluster.OpenReadConnectionAsync();
                    await InterleavedEfCore.OneRowAsync(c);
                },
                // Plain EF Core with one more options extension that adds no service: what an extension costs per context.
                "ef-plain-ext" => () => InterleavedEfCore.OneRowAsync(_plainExtEf ??= WithNoOpExtension(new Microsoft.EntityFrameworkCore.DbContextOptionsBuilder().UseNpgsql(Raw)).Options),
                "ef-haclient" => () => InterleavedEfCore.OneRowAsync(_routedEf ??= new Microsoft.EntityFrameworkCore.DbContextOptionsBuilder().UseHaClient(Cluster).Options),
                "redis-get" => () => Redis!.ExecuteReadAsync(static (db, _) => db.StringGetAsync("haclient:bench:key"), RedisReadPreference.Primary),
                "redis-get-raw" => () => Mux!.GetDatabase().StringGetAsync("haclient:bench:key"),
                "redis-set" => () => Redis!.ExecuteWriteAsync(static (db, _) => db.StringSetAsync("haclient:bench:key", "0123456789abcdef0123456789abcdef")),
                "redis-set-raw" => () => Mux!.GetDatabase().StringSetAsync("haclient:bench:key", "0123456789abcdef0123456789abcdef"),
                _ => throw new ArgumentException($"unknown scenario {scenario}"),
            };

        public async ValueTask DisposeAsync()
        {
            if (Redis is not null)
            {
                await Redis.DisposeAsync();
            }

            Mux?.Dispose();
            await Cluster.DisposeAsync();
            await Raw.DisposeAsync();
        }
    }

    private sealed class NoOpExtension : Microsoft.EntityFrameworkCore.Infrastructure.IDbContextOptionsExtension
    {
        public Microsoft.EntityFrameworkCore.Infrastructure.DbContextOptionsExtensionInfo Info => field ??= new NoOpInfo(this);

        public void ApplyServices(Microsoft.Extensions.DependencyInjection.IServiceCollection services)
        {
        }

        public void Validate(Microsoft.EntityFrameworkCore.Infrastructure.IDbContextOptions options)
        {
        }

        private sealed class NoOpInfo(Microsoft.EntityFrameworkCore.Infrastructure.IDbContextOptionsExtension extension) : Microsoft.EntityFrameworkCore.Infrastructure.DbContextOptionsExtensionInfo(extension)
        {
            public override bool IsDatabaseProvider => false;

            public override string LogFragment => "";

            public override int GetServiceProviderHashCode() => 0;

            public override bool ShouldUseSameServiceProvider(Microsoft.EntityFrameworkCore.Infrastructure.DbContextOptionsExtensionInfo other) => other is NoOpInfo;

            public override void PopulateDebugInfo(IDictionary<string, string> debugInfo)
            {
            }
        }
    }

    private sealed class AllocListener : EventListener
    {
        private volatile bool _stopped;

        public Dictionary<string, long> ByType { get; } = new();

        public void Stop() => _stopped = true;

        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
            {
                EnableEvents(eventSource, EventLevel.Verbose, (EventKeywords)0x1);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs e)
        {
            if (_stopped || e.EventName is null || !e.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal) || e.PayloadNames is null)
            {
                return;
            }

            var type = e.Payload![e.PayloadNames.IndexOf("TypeName")] as string ?? "?";
            var amountIndex = e.PayloadNames.IndexOf("AllocationAmount64");
            var amount = amountIndex >= 0 ? Convert.ToInt64(e.Payload[amountIndex], System.Globalization.CultureInfo.InvariantCulture) : 100_000;
            lock (ByType)
            {
                ByType[type] = ByType.GetValueOrDefault(type) + amount;
            }
        }
    }
}
