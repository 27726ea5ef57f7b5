using System.Collections.Concurrent;
using System.Data.Common;
using HaClient.Postgres;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

namespace HaClient.EntityFrameworkCore.Tests;

public sealed class Item
{
    public long Id { get; set; }

    public string Name { get; set; } = "";
}

/// <summary>The tests' context: one table, in its own schema, created by <see cref="CreateItems"/>.</summary>
public sealed class TestDb(DbContextOptions<TestDb> options) : DbContext(options)
{
    public const string Schema = "ef_tests";

    public DbSet<Item> Items => Set<Item>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.HasDefaultSchema(Schema);
        modelBuilder.Entity<Item>().ToTable("items");
    }

    /// <summary>A context on <paramref name="cluster"/> whose every command is recorded in <paramref name="commands"/>.</summary>
    public static TestDb Create(PostgresCluster cluster, CommandLog? commands = null, QueryTrackingBehavior tracking = QueryTrackingBehavior.TrackAll)
    {
        var builder = new DbContextOptionsBuilder<TestDb>();
        builder.UseHaClient(cluster, npgsql => npgsql.MigrationsHistoryTable("__ef_history", Schema))
            .UseQueryTrackingBehavior(tracking)
            // No model snapshot: the hand-written migration is the whole history.
            .ConfigureWarnings(w => w.Ignore(RelationalEventId.PendingModelChangesWarning));
        if (commands is not null)
        {
            builder.AddInterceptors(commands);
        }

        return new TestDb(builder.Options);
    }
}

[DbContext(typeof(TestDb))]
[Migration("20261201000000_CreateItems")]
public sealed class CreateItems : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.EnsureSchema(TestDb.Schema);
        migrationBuilder.CreateTable(
            name: "items",
            schema: TestDb.Schema,
            columns: t => new
            {
                Id = t.Column<long>(nullable: false).Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                Name = t.Column<string>(nullable: false),
            },
            constraints: t => t.PrimaryKey("PK_items", x => x.Id));
    }
}

/// <summary>One executed command: what EF Core ran it for, and the server session it ran on.</summary>
public sealed record CommandRecord(CommandSource Source, int Port, int BackendPid, string Text);

/// <summary>Records every command EF Core creates, with the host and backend of its connection.</summary>
public sealed class CommandLog : DbCommandInterceptor
{
    public ConcurrentQueue<CommandRecord> Commands { get; } = new();

    public override DbCommand CommandInitialized(CommandEndEventData eventData, DbCommand result)
    {
        var connection = (NpgsqlConnection)result.Connection!;
        Commands.Enqueue(new CommandRecord(eventData.CommandSource, connection.Port, connection.State == System.Data.ConnectionState.Open ? connection.ProcessID : -1, $"[{connection.State}] {result.CommandText}"));
        return result;
    }

    public CommandRecord Last(CommandSource source) => Commands.Last(c => c.Source == source);
}
