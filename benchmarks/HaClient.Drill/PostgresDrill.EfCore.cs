using System.Runtime.ExceptionServices;
using HaClient.EntityFrameworkCore;
using HaClient.Postgres;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace HaClient.Drill;

public static partial class PostgresDrill
{
    /// <summary>One row of <c>drill_writes</c>.</summary>
    private sealed class DrillWrite
    {
        public long Id { get; set; }
    }

    private sealed class DrillDb(DbContextOptions options) : DbContext(options)
    {
        public DbSet<DrillWrite> Writes => Set<DrillWrite>();

        protected override void OnModelCreating(ModelBuilder modelBuilder)
            => modelBuilder.Entity<DrillWrite>(e =>
            {
                e.ToTable("drill_writes");
                e.Property(w => w.Id).HasColumnName("id").ValueGeneratedNever();
            });
    }

    /// <summary>
    /// The workload through EF Core on HaClient (<c>--client efcore</c>): each write is a fresh DbContext's
    /// SaveChanges (the token is the context's), each read a fresh context's no-tracking query, given the token for a
    /// token read. EF Core wraps every SaveChanges failure in <see cref="DbUpdateException"/>; HaClient's exception
    /// inside it is what the drill counts (an unknown outcome stays unknown).
    /// </summary>
    private sealed class EfCoreClient(PostgresCluster cluster, ILoggerFactory loggerFactory) : DrillClient
    {
        private readonly DbContextOptions _options = new DbContextOptionsBuilder().UseHaClient(cluster).Options;

        public override async Task<(int, ConsistencyToken)> WriteAsync(long id, CancellationToken ct)
        {
            await using var db = new DrillDb(_options);
            db.Writes.Add(new DrillWrite { Id = id });
            try
            {
                await db.SaveChangesAsync(ct);
            }
            catch (DbUpdateException e) when (e.InnerException is HaClientException or OperationDeadlineExceededException)
            {
                ExceptionDispatchInfo.Throw(e.InnerException);
            }

            // The host of the connection SaveChanges ran on (closed now, back in HaClient's pool of that host: its data
            // source names the host).
            return (new NpgsqlConnectionStringBuilder(db.Database.GetDbConnection().ConnectionString).Port, db.GetConsistencyToken());
        }

        public override async Task<bool> SeesAsync(long id, ReadConsistency consistency, CancellationToken ct)
        {
            await using var db = new DrillDb(_options);
            if (consistency.Kind == ReadConsistencyKind.AtLeast)
            {
                db.ObserveConsistencyToken(consistency.Token);
            }

            return await db.Writes.AsNoTracking().AnyAsync(w => w.Id == id, ct);
        }

        public override async ValueTask DisposeAsync()
        {
            await cluster.DisposeAsync();
            loggerFactory.Dispose();
        }
    }
}
