using System.Globalization;
using HaClient.EntityFrameworkCore;
using HaClient.Postgres;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace HaClient.Benchmarks;

/// <summary>
/// A one-row EF Core query (a fresh DbContext per call, as per request, <c>AsNoTracking().FirstOrDefaultAsync(id)</c>)
/// through plain <c>UseNpgsql(dataSource)</c> and through <c>UseHaClient(cluster)</c> on the same single host,
/// interleaved (<see cref="InterleavedBatches"/>): the median and quartiles of the per-batch mean, each median's ratio
/// to plain EF Core, and the bytes allocated per call (all threads, so the monitor's probes, about one a second, are
/// included).
/// <c>dotnet HaClient.Benchmarks.dll --interleaved-ef [seconds=60]</c>
/// </summary>
internal static class InterleavedEfCore
{
    private const string Pg = "Host=127.0.0.1;Port=15432;Username=haclient;Password=haclient-lab-pw;Database=haclient";

    internal sealed class BenchItem
    {
        public long Id { get; set; }

        public string Name { get; set; } = "";
    }

    internal sealed class BenchDb(DbContextOptions options) : DbContext(options)
    {
        public DbSet<BenchItem> Items => Set<BenchItem>();

        protected override void OnModelCreating(ModelBuilder modelBuilder)
            => modelBuilder.Entity<BenchItem>(e =>
            {
                e.ToTable("bench_items");
                e.Property(i => i.Id).HasColumnName("id");
                e.Property(i => i.Name).HasColumnName("name");
            });
    }

    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = args.Length > 1 ? double.Parse(args[1], CultureInfo.InvariantCulture) : 60;
        await using var raw = NpgsqlDataSource.Create(Pg);
        await EnsureTableAsync(raw);

        await using var cluster = PostgresCluster.Create(new PostgresClusterOptions { ConnectionString = Pg });
        await cluster.WaitForTopologyAsync(TimeSpan.FromSeconds(10));
        var plain = new DbContextOptionsBuilder().UseNpgsql(raw).Options;
        var routed = new DbContextOptionsBuilder().UseHaClient(cluster).Options;
        var variants = new (string Name, Func<Task<BenchItem?>> Op)[]
        {
            ("EF Core UseNpgsql(dataSource)", () => OneRowAsync(plain)),
            ("EF Core UseHaClient(cluster)", () => OneRowAsync(routed)),
            // The same row without EF Core: what HaClient's own open costs against a raw pool's (the core path).
            ("ADO.NET raw OpenConnectionAsync", async () =>
            {
                await using var c = await raw.OpenConnectionAsync();
                return await OneRowAsync(c);
            }),
            ("ADO.NET HaClient OpenReadConnectionAsync", async () =>
            {
                await using var c = await cluster.OpenReadConnectionAsync();
                return await OneRowAsync(c);
            }),
        };
        await InterleavedBatches.RunAsync("interleaved one-row EF Core query on 127.0.0.1:15432", variants, seconds);
        return 0;
    }

    /// <summary>Creates the one-row table the EF Core scenarios read.</summary>
    internal static async Task EnsureTableAsync(NpgsqlDataSource raw)
    {
        await using var setup = await raw.OpenConnectionAsync();
        await using var cmd = new NpgsqlCommand("CREATE TABLE IF NOT EXISTS bench_items(id bigint PRIMARY KEY, name text NOT NULL); INSERT INTO bench_items VALUES (1, 'one') ON CONFLICT DO NOTHING", setup);
        await cmd.ExecuteNonQueryAsync();
    }

    internal static async Task<BenchItem?> OneRowAsync(NpgsqlConnection connection)
    {
        await using var cmd = new NpgsqlCommand("SELECT id, name FROM bench_items WHERE id = 1 LIMIT 1", connection);
        await using var reader = await cmd.ExecuteReaderAsync();
        return await reader.ReadAsync() ? new BenchItem { Id = reader.GetInt64(0), Name = reader.GetString(1) } : null;
    }

    internal static async Task<BenchItem?> OneRowAsync(DbContextOptions options)
    {
        await using var db = new BenchDb(options);
        return await db.Items.AsNoTracking().FirstOrDefaultAsync(i => i.Id == 1);
    }
}
