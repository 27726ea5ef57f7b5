using System.Diagnostics;
using HaClient.Postgres;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Xunit;
using Xunit.Abstractions;

namespace HaClient.EntityFrameworkCore.Tests;

/// <summary>The lag bound and read-your-writes through EF Core, with replicas that really fall behind.</summary>
[Collection("ef-lab")]
[Trait("Category", "Lab")]
public sealed class ConsistencyLabTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_no_tracking_query_is_never_staler_than_the_1s_bound_while_replay_is_paused()
    {
        await using var cluster = await EfLab.ClusterAsync();
        await EfLab.MigrateAsync(cluster);
        var acked = new List<(long Id, TimeSpan At)>();
        var reads = new List<(TimeSpan Start, long Seen, int Port)>();
        var clock = Stopwatch.StartNew();
        try
        {
            await Lab.RunAsync("pg pause-replay n2");
            await Lab.RunAsync("pg pause-replay n3");
            var paused = clock.Elapsed;

            // One writer, one reader, 4 s: each read (a fresh context, so no token of its own) must see every write
            // acknowledged more than 1 s before it started.
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(4));
            var writer = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    await using var db = TestDb.Create(cluster);
                    var item = new Item { Name = "lag" };
                    db.Items.Add(item);
                    await db.SaveChangesAsync();
                    lock (acked)
                    {
                        acked.Add((item.Id, clock.Elapsed));
                    }

                    await Task.Delay(20);
                }
            });
            while (!stop.IsCancellationRequested)
            {
                var log = new CommandLog();
                await using var db = TestDb.Create(cluster, log);
                var start = clock.Elapsed;
                var seen = await db.Items.AsNoTracking().MaxAsync(i => (long?)i.Id) ?? 0;
                reads.Add((start, seen, log.Last(CommandSource.LinqQuery).Port));
                await Task.Delay(10);
            }

            await writer;
            var stale = 0;
            foreach (var (start, seen, port) in reads)
            {
                long due;
                lock (acked)
                {
                    due = acked.Where(a => a.At < start - TimeSpan.FromSeconds(1)).Select(a => a.Id).DefaultIfEmpty(0).Max();
                }

                if (seen < due)
                {
                    stale++;
                    output.WriteLine($"stale: read at {start.TotalMilliseconds:F0} ms on {port} saw {seen}, due {due}");
                }
            }

            var byReplica = reads.Where(r => r.Port != EfLab.PrimaryPort).ToList();
            output.WriteLine($"{acked.Count} writes, {reads.Count} reads, {byReplica.Count} served by a paused replica (the last at {(byReplica.Count > 0 ? (byReplica[^1].Start - paused).TotalMilliseconds : 0):F0} ms after the pause)");
            Assert.Equal(0, stale);
            Assert.True(acked.Count > 20, $"{acked.Count} writes");

            // The test can fail: the paused replicas did serve reads until they aged out, and only then the primary.
            Assert.NotEmpty(byReplica);
            Assert.Contains(reads, r => r.Port == EfLab.PrimaryPort && r.Start > paused + TimeSpan.FromSeconds(2));
        }
        finally
        {
            await Lab.RunAsync("pg up");
        }
    }

    [Fact]
    public async Task SaveChanges_then_a_query_sees_the_write_even_when_a_replica_serves_it()
    {
        await using var cluster = await EfLab.ClusterAsync();
        await EfLab.MigrateAsync(cluster);
        var servedByReplica = 0;
        for (var i = 0; i < 5; i++)
        {
            var log = new CommandLog();
            await using var db = TestDb.Create(cluster, log);
            var item = new Item { Name = $"ryw-{i}" };
            db.Items.Add(item);
            await db.SaveChangesAsync();
            var token = db.GetConsistencyToken();
            Assert.False(token.IsEmpty);

            // Once a replica is known to have replayed past the token, the read may go there, and must see the write.
            Assert.True(await Lab.EventuallyAsync(
                () => Task.FromResult(cluster.Topology.Hosts.Any(h => h.Role == PostgresRole.Replica && h.WalLsn >= token.Lsn)),
                TimeSpan.FromSeconds(5), pollMs: 10), "no replica replayed past the token");
            var read = await db.Items.AsNoTracking().SingleOrDefaultAsync(x => x.Id == item.Id);
            Assert.NotNull(read);
            if (log.Last(CommandSource.LinqQuery).Port != EfLab.PrimaryPort)
            {
                servedByReplica++;
            }

            // Another context (another request, another process) given the token sees it too.
            await using var next = TestDb.Create(cluster);
            next.ObserveConsistencyToken(token);
            Assert.NotNull(await next.Items.AsNoTracking().SingleOrDefaultAsync(x => x.Id == item.Id));
        }

        Assert.True(servedByReplica >= 3, $"{servedByReplica} of 5 token reads served by a replica");
    }

    [Fact]
    public async Task With_replay_paused_the_token_sends_the_read_to_the_primary_and_it_sees_the_write()
    {
        await using var cluster = await EfLab.ClusterAsync();
        await EfLab.MigrateAsync(cluster);
        try
        {
            await Lab.RunAsync("pg pause-replay n2");
            await Lab.RunAsync("pg pause-replay n3");
            for (var i = 0; i < 5; i++)
            {
                var log = new CommandLog();
                await using var db = TestDb.Create(cluster, log);
                var item = new Item { Name = $"paused-{i}" };
                db.Items.Add(item);
                await db.SaveChangesAsync();
                Assert.NotNull(await db.Items.AsNoTracking().SingleOrDefaultAsync(x => x.Id == item.Id));
                Assert.Equal(EfLab.PrimaryPort, log.Last(CommandSource.LinqQuery).Port);

                // Without the token (a fresh context) the same read goes to a paused replica, which has not seen it.
                var bare = new CommandLog();
                await using var other = TestDb.Create(cluster, bare);
                var missing = await other.Items.AsNoTracking().SingleOrDefaultAsync(x => x.Id == item.Id);
                if (bare.Last(CommandSource.LinqQuery).Port != EfLab.PrimaryPort)
                {
                    Assert.Null(missing);
                }
            }
        }
        finally
        {
            await Lab.RunAsync("pg up");
        }
    }
}
