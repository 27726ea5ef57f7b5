using System.Diagnostics;
using Dapper;
using HaClient.Postgres;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Npgsql;
using Xunit;
using Xunit.Abstractions;

namespace HaClient.EntityFrameworkCore.Tests;

/// <summary>One DbContext on the real lab: where each kind of command runs.</summary>
[Collection("ef-lab")]
[Trait("Category", "Lab")]
public sealed class RoutingLabTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Migrations_apply_on_the_primary()
    {
        await using var cluster = await EfLab.ClusterAsync();
        await cluster.ExecuteWriteAsync(async (c, ct) =>
        {
            await using var drop = new NpgsqlCommand($"DROP SCHEMA IF EXISTS {TestDb.Schema} CASCADE", c);
            return await drop.ExecuteNonQueryAsync(ct);
        });

        var log = new CommandLog();
        await using (var db = TestDb.Create(cluster, log))
        {
            Assert.Equal(["20261201000000_CreateItems"], await db.Database.GetPendingMigrationsAsync());
            await db.Database.MigrateAsync();
            Assert.Empty(await db.Database.GetPendingMigrationsAsync());
        }

        var migrations = log.Commands.Where(c => c.Source == CommandSource.Migrations).ToList();
        Assert.Contains(migrations, c => c.Text.Contains("CREATE TABLE ef_tests.items", StringComparison.Ordinal));
        Assert.All(log.Commands, c => Assert.Equal(EfLab.PrimaryPort, c.Port));

        // Replicated from the primary: every host has the table.
        Assert.True(await Lab.EventuallyAsync(
            async () => (await Task.WhenAll(EfLab.Ports.Select(p => EfLab.ScalarAsync(p, "SELECT to_regclass('ef_tests.items') IS NOT NULL")))).All(v => (bool)v!),
            TimeSpan.FromSeconds(10)), "the table did not reach every host");
    }

    [Fact]
    public async Task Writes_land_on_the_primary_and_no_tracking_reads_on_replicas()
    {
        await using var cluster = await EfLab.ClusterAsync();
        await EfLab.MigrateAsync(cluster);
        var log = new CommandLog();
        await using var db = TestDb.Create(cluster, log);

        // Every kind of write: SaveChanges (insert, update, delete), raw SQL, ExecuteUpdate, ExecuteDelete.
        var item = new Item { Name = "w1" };
        db.Items.Add(item);
        await db.SaveChangesAsync();
        item.Name = "w2";
        await db.SaveChangesAsync();
        await db.Database.ExecuteSqlAsync($"UPDATE ef_tests.items SET \"Name\" = 'w3' WHERE \"Id\" = {item.Id}");
        await db.Items.Where(i => i.Id == item.Id).ExecuteUpdateAsync(s => s.SetProperty(i => i.Name, "w4"));
        var doomed = new Item { Name = "doomed" };
        db.Items.Add(doomed);
        await db.SaveChangesAsync();
        db.Items.Remove(doomed);
        await db.SaveChangesAsync();
        await db.Items.Where(i => i.Name == "nothing").ExecuteDeleteAsync();

        // Tracked queries read the primary (what they load may be saved back); no-tracking ones read replicas.
        for (var i = 0; i < 10; i++)
        {
            Assert.NotNull(await db.Items.FirstOrDefaultAsync(x => x.Id == item.Id));
        }

        await Task.Delay(1);
        var fresh = TestDb.Create(cluster, log);
        await using (fresh)
        {
            for (var i = 0; i < 30; i++)
            {
                await fresh.Items.AsNoTracking().Where(x => x.Id > 0).Take(1).ToListAsync();
            }
        }

        var commands = log.Commands.ToList();
        foreach (var c in commands.Where(c => c.Source != CommandSource.LinqQuery || c.Text.Contains("UPDATE", StringComparison.Ordinal) || c.Text.Contains("DELETE", StringComparison.Ordinal)))
        {
            Assert.True(c.Port == EfLab.PrimaryPort, $"{c.Source} ran on {c.Port}: {c.Text}");
        }

        var writes = commands.Count(c => c.Source is CommandSource.SaveChanges or CommandSource.ExecuteSqlRaw or CommandSource.ExecuteUpdate or CommandSource.ExecuteDelete);
        Assert.True(writes >= 7, $"{writes} writes recorded");
        var tracked = commands.Where(c => c.Source == CommandSource.LinqQuery && c.Text.Contains("LIMIT 1", StringComparison.Ordinal) && !c.Text.Contains("> 0", StringComparison.Ordinal)).ToList();
        Assert.Equal(10, tracked.Count);
        Assert.All(tracked, c => Assert.Equal(EfLab.PrimaryPort, c.Port));
        var noTracking = commands.Where(c => c.Source == CommandSource.LinqQuery && c.Text.Contains("> 0", StringComparison.Ordinal)).Select(c => c.Port).ToList();
        output.WriteLine($"no-tracking reads by port: {string.Join(", ", noTracking.GroupBy(p => p).Select(g => $"{g.Key}×{g.Count()}"))}");
        Assert.Equal(30, noTracking.Count);
        Assert.Contains(15433, noTracking);
        Assert.Contains(15434, noTracking);
    }

    [Fact]
    public async Task Read_scopes_and_the_context_default_set_where_queries_read()
    {
        await using var cluster = await EfLab.ClusterAsync();
        await EfLab.MigrateAsync(cluster);
        var log = new CommandLog();
        await using (var db = TestDb.Create(cluster, log, QueryTrackingBehavior.NoTracking))
        {
            for (var i = 0; i < 10; i++)
            {
                await db.Items.CountAsync();
            }

            using (db.ReadFrom(ReadConsistency.Primary))
            {
                for (var i = 0; i < 10; i++)
                {
                    await db.Items.Where(x => x.Name == "primary-scope").CountAsync();
                }

                using (db.ReadFrom(ReadConsistency.WithinLagBound))
                {
                    for (var i = 0; i < 10; i++)
                    {
                        await db.Items.AsTracking().Where(x => x.Name == "inner-scope").ToListAsync();
                    }
                }

                await db.Items.Where(x => x.Name == "restored").CountAsync();
            }
        }

        var commands = log.Commands.ToList();
        Assert.DoesNotContain(commands.Where(c => c.Text.Contains("primary-scope", StringComparison.Ordinal) || c.Text.Contains("restored", StringComparison.Ordinal)), c => c.Port != EfLab.PrimaryPort);
        Assert.DoesNotContain(commands.Where(c => c.Text.Contains("inner-scope", StringComparison.Ordinal)), c => c.Port == EfLab.PrimaryPort);
        Assert.Contains(commands.Where(c => !c.Text.Contains('\'', StringComparison.Ordinal)), c => c.Port != EfLab.PrimaryPort);
    }

    [Fact]
    public async Task A_transaction_never_spans_two_nodes()
    {
        await using var cluster = await EfLab.ClusterAsync();
        await EfLab.MigrateAsync(cluster);
        var log = new CommandLog();
        await using var db = TestDb.Create(cluster, log);
        await using (var tx = await db.Database.BeginTransactionAsync())
        {
            db.Items.Add(new Item { Name = "tx1" });
            await db.SaveChangesAsync();
            Assert.Equal(1, await db.Items.AsNoTracking().CountAsync(i => i.Name == "tx1" && i.Id > 0));
            using (db.ReadFrom(ReadConsistency.WithinLagBound))
            {
                Assert.NotEmpty(await db.Items.AsNoTracking().Where(i => i.Name == "tx1").ToListAsync());
            }

            await db.Database.ExecuteSqlAsync($"UPDATE ef_tests.items SET \"Name\" = 'tx2' WHERE \"Name\" = 'tx1'");
            await tx.CommitAsync();
        }

        var commands = log.Commands.ToList();
        Assert.True(commands.Count >= 4, $"{commands.Count} commands");
        Assert.Single(commands.Select(c => (c.Port, c.BackendPid)).Distinct());
        Assert.Equal(EfLab.PrimaryPort, commands[0].Port);
    }

    [Fact]
    public async Task The_data_source_handle_opens_on_the_right_node()
    {
        await using var cluster = await EfLab.ClusterAsync();
        var write = cluster.GetWriteDataSource();
        Assert.DoesNotContain("haclient-lab-pw", write.ConnectionString, StringComparison.Ordinal);
        await using (var c = await write.OpenConnectionAsync())
        {
            Assert.Equal(EfLab.PrimaryPort, await c.ExecuteScalarAsync<int>("SELECT inet_server_port()"));
            Assert.False(await c.ExecuteScalarAsync<bool>("SELECT pg_is_in_recovery()"));
        }

        var ports = new List<int>();
        for (var i = 0; i < 20; i++)
        {
            await using var c = await cluster.GetDataSource(ReadConsistency.WithinLagBound).OpenConnectionAsync();
            ports.Add(await c.ExecuteScalarAsync<int>("SELECT inet_server_port()"));
        }

        Assert.Contains(15433, ports);
        Assert.Contains(15434, ports);
        await using (var c = await cluster.GetDataSource(ReadConsistency.Primary).OpenConnectionAsync())
        {
            Assert.Equal(EfLab.PrimaryPort, await c.ExecuteScalarAsync<int>("SELECT inet_server_port()"));
        }
    }

    [Fact]
    public async Task Synchronous_opens_and_a_second_connection_string_are_refused_with_a_clear_error()
    {
        await using var cluster = await EfLab.ClusterAsync();
        await using var db = TestDb.Create(cluster);
        var sync = Assert.Throws<NotSupportedException>(() => db.Items.AsNoTracking().ToList());
        Assert.Contains("SaveChangesAsync", sync.Message, StringComparison.Ordinal);

        var builder = new DbContextOptionsBuilder<TestDb>().UseNpgsql("Host=127.0.0.1;Port=15432");
        var twice = Assert.Throws<ArgumentException>(() => builder.UseHaClient(cluster));
        Assert.Contains("UseNpgsql", twice.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Contexts_share_one_internal_service_provider()
    {
        await using var cluster = await EfLab.ClusterAsync();
        await using var other = await EfLab.ClusterAsync();
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < 30; i++)
        {
            await using var db = TestDb.Create(i % 2 == 0 ? cluster : other);
            await db.Items.AsNoTracking().AnyAsync();
            Assert.Same(i % 2 == 0 ? cluster : other, db.GetPostgresCluster());
        }

        // 30 contexts over two clusters: EF Core would warn (ManyServiceProvidersCreatedWarning, an error by default
        // from the 20th) had each built its own internal service provider.
        output.WriteLine($"30 contexts in {sw.ElapsedMilliseconds} ms");
    }
}
