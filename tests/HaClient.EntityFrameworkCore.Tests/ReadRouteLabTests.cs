using HaClient.Postgres;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Xunit;
using Xunit.Abstractions;

namespace HaClient.EntityFrameworkCore.Tests;

/// <summary>A read consistency per query (<c>IQueryable.ReadFrom</c>), and a read retried on another node when its own
/// fails between routing and execution, on the real lab.</summary>
[Collection("ef-lab")]
[Trait("Category", "Lab")]
public sealed class ReadRouteLabTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_query_tagged_ReadFrom_reads_at_its_own_consistency_over_tracking_and_scope()
    {
        await using var cluster = await EfLab.ClusterAsync();
        await EfLab.MigrateAsync(cluster);
        var log = new CommandLog();
        await using var db = TestDb.Create(cluster, log);
        db.Items.Add(new Item { Name = "per-query" });
        await db.SaveChangesAsync();

        // Fresh contexts: no read-your-writes token pulls the replica reads to the primary.
        int[] Ports(CommandLog l) => l.Commands.Where(c => c.Source == CommandSource.LinqQuery).Select(c => c.Port).ToArray();

        var primaryLog = new CommandLog();
        await using (var fresh = TestDb.Create(cluster, primaryLog))
        {
            for (var i = 0; i < 20; i++)
            {
                // No tracking would go to a replica; the tag says the primary.
                await fresh.Items.AsNoTracking().ReadFrom(ReadConsistency.Primary).Where(x => x.Id > 0).Take(1).ToListAsync();
            }

            using (fresh.ReadFrom(ReadConsistency.WithinLagBound))
            {
                // The tag wins over the context's scope too.
                await fresh.Items.ReadFrom(ReadConsistency.Primary).Where(x => x.Id > 0).Take(1).ToListAsync();
            }
        }

        Assert.Equal(21, Ports(primaryLog).Length);
        Assert.All(Ports(primaryLog), p => Assert.Equal(EfLab.PrimaryPort, p));
        Assert.All(primaryLog.Commands.Where(c => c.Source == CommandSource.LinqQuery), c => Assert.Contains("-- " + HaClientQueryableExtensions.PrimaryTag, c.Text, StringComparison.Ordinal));

        var replicaLog = new CommandLog();
        await using (var fresh = TestDb.Create(cluster, replicaLog))
        {
            for (var i = 0; i < 20; i++)
            {
                // A tracked query goes to the primary unless it asks otherwise; this one asks for a replica.
                await fresh.Items.ReadFrom(ReadConsistency.WithinLagBound).Where(x => x.Id > 0).Take(1).ToListAsync();
            }
        }

        output.WriteLine($"tagged Primary: {string.Join(',', Ports(primaryLog))}; tagged WithinLagBound: {string.Join(',', Ports(replicaLog))}");
        Assert.Equal(20, Ports(replicaLog).Length);
        Assert.All(Ports(replicaLog), p => Assert.NotEqual(EfLab.PrimaryPort, p));
    }

    [Fact]
    public void ReadFrom_on_a_query_refuses_a_token_or_a_staleness_allowance_naming_the_alternative()
    {
        var query = Array.Empty<Item>().AsQueryable();
        var token = Assert.Throws<ArgumentException>(() => query.ReadFrom(ReadConsistency.AtLeast(new ConsistencyToken(42))));
        Assert.Contains("ObserveConsistencyToken", token.Message, StringComparison.Ordinal);
        Assert.Equal("consistency", token.ParamName);
        Assert.Throws<ArgumentException>(() => query.ReadFrom(ReadConsistency.WithinLagBound.OrStale(TimeSpan.FromSeconds(5))));
    }

    [Fact]
    public async Task A_read_whose_replica_crashed_after_it_was_chosen_is_retried_once_on_another_node()
    {
        // Two hosts only, so the one replica is every bounded read's first choice; the monitors probe rarely, so they
        // still believe that replica is up when a read is routed to it after the crash. One cluster holds idle pooled
        // connections to the replica (the crash breaks them: the read fails on the connection), the other none (the
        // open is refused: nothing sent).
        // A third runs under the application's own execution strategy (EnableRetryOnFailure), which replaces
        // HaClient's: the command retries the read itself there.
        await using var pooled = await TwoHostClusterAsync("ef-retry-pooled");
        await using var fresh = await TwoHostClusterAsync("ef-retry-open");
        await using var ownStrategy = await TwoHostClusterAsync("ef-retry-own-strategy");
        await EfLab.MigrateAsync(pooled);
        foreach (var cluster in new[] { pooled, ownStrategy })
        {
            var warm = new CommandLog();
            await using (var db = Create(cluster, warm))
            {
                for (var i = 0; i < 5; i++)
                {
                    await db.Items.AsNoTracking().Take(1).ToListAsync();
                }
            }

            Assert.All(warm.Commands.Where(c => c.Source == CommandSource.LinqQuery), c => Assert.Equal(15433, c.Port));
        }

        try
        {
            await Lab.RunAsync("pg crash-replica n2");
            foreach (var (cluster, what) in new[] { (pooled, "a broken pooled connection"), (fresh, "a refused open"), (ownStrategy, "the application's strategy, a broken pooled connection") })
            {
                Assert.Equal(1, cluster.Topology.Hosts.Count(h => h.Role == PostgresRole.Replica)); // not yet noticed

                // The read fails on 15433 and runs again with 15433 excluded: on the primary. (Before, a broken
                // connection's read was retried on a fresh route, to the same replica, and a refused open was not
                // retried at all.)
                var log = new CommandLog();
                await using (var db = Create(cluster, log))
                {
                    Assert.NotNull(await db.Items.AsNoTracking().Take(1).ToListAsync());
                }

                var reads = log.Commands.Where(c => c.Source == CommandSource.LinqQuery).ToList();
                output.WriteLine($"{what}: commands on {string.Join(", ", reads.Select(c => c.Port))}");
                Assert.Equal(EfLab.PrimaryPort, reads[^1].Port);
            }
        }
        finally
        {
            await Lab.RunAsync("pg reset", timeoutSeconds: 240);
        }
    }

    /// <summary>A context of <see cref="TestDb"/>; on the cluster named "ef-retry-own-strategy", under
    /// <c>EnableRetryOnFailure</c>.</summary>
    private static TestDb Create(PostgresCluster cluster, CommandLog log)
    {
        if (cluster.Name != "ef-retry-own-strategy")
        {
            return TestDb.Create(cluster, log);
        }

        var builder = new DbContextOptionsBuilder<TestDb>();
        builder.UseHaClient(cluster, npgsql => npgsql.MigrationsHistoryTable("__ef_history", TestDb.Schema).EnableRetryOnFailure(maxRetryCount: 1))
            .AddInterceptors(log);
        return new TestDb(builder.Options);
    }

    private static async Task<PostgresCluster> TwoHostClusterAsync(string name)
    {
        var cluster = PostgresCluster.Create(
            new PostgresClusterOptions
            {
                ConnectionString = $"Host=127.0.0.1:15432,127.0.0.1:15433;{Lab.Credentials}",
                ProbeInterval = TimeSpan.FromSeconds(60),
                ReplicaLag = { MaxLagTime = TimeSpan.FromSeconds(120) },
            },
            name: name);
        await cluster.WaitForTopologyAsync(TimeSpan.FromSeconds(10));
        Assert.True(
            await Lab.EventuallyAsync(() => Task.FromResult(cluster.Topology.Primary is not null && cluster.Topology.Hosts.Count(h => h.Role == PostgresRole.Replica) == 1), TimeSpan.FromSeconds(15)),
            "no primary and replica 15433 found");
        return cluster;
    }
}

/// <summary>The placeholder a context starts on (no lab needed: nothing is opened).</summary>
public sealed class PlaceholderConnectionTests
{
    [Fact]
    public async Task Before_its_first_open_a_context_holds_a_shared_placeholder_that_cannot_be_opened_or_changed()
    {
        await using var cluster = PostgresCluster.Create(new PostgresClusterOptions { ConnectionString = $"Host=127.0.0.1:1;{Lab.Credentials}" }, name: "ef-placeholder");
        await using var a = TestDb.Create(cluster);
        await using var b = TestDb.Create(cluster);
        var connection = a.Database.GetDbConnection();
        Assert.Same(connection, b.Database.GetDbConnection());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => connection.OpenAsync());
        Assert.ThrowsAny<Exception>(() => connection.ConnectionString = $"Host=127.0.0.1;{Lab.Credentials}");
        Assert.Equal(string.Empty, connection.ConnectionString);
    }
}
