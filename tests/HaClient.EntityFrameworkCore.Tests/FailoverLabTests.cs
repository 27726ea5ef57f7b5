using System.Collections.Concurrent;
using System.Diagnostics;
using HaClient.Postgres;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Xunit;
using Xunit.Abstractions;

namespace HaClient.EntityFrameworkCore.Tests;

/// <summary>A primary crash under an EF Core workload.</summary>
[Collection("ef-lab")]
[Trait("Category", "Lab")]
public sealed class FailoverLabTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_crash_failover_mid_workload_writes_only_on_the_primary_and_fails_with_HaClient_exceptions()
    {
        await using var cluster = await EfLab.ClusterAsync(o => o.Resilience.OperationTimeout = TimeSpan.FromSeconds(2));
        await EfLab.MigrateAsync(cluster);
        var acked = new ConcurrentQueue<(long Id, int Port, TimeSpan At)>();
        var typed = new ConcurrentDictionary<string, int>();
        var untyped = new ConcurrentQueue<Exception>();
        var reads = 0;
        var clock = Stopwatch.StartNew();
        var promotedAt = TimeSpan.MaxValue;
        using var stop = new CancellationTokenSource();

        void Failed(Exception e)
        {
            // What EF Core surfaces: HaClient's exception itself (an open refused, a read failed twice), or inside EF
            // Core's DbUpdateException for SaveChanges (EF Core wraps every SaveChanges failure).
            var haclient = e as HaClientException ?? (e as DbUpdateException)?.InnerException as HaClientException;
            if (haclient is null && e is not OperationDeadlineExceededException && (e as DbUpdateException)?.InnerException is not OperationDeadlineExceededException)
            {
                untyped.Enqueue(e);
                return;
            }

            typed.AddOrUpdate(haclient?.GetType().Name ?? nameof(OperationDeadlineExceededException), 1, (_, n) => n + 1);
        }

        var workers = Enumerable.Range(0, 3).Select(w => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var log = new CommandLog();
                await using var db = TestDb.Create(cluster, log);
                try
                {
                    var item = new Item { Name = $"crash-{w}" };
                    db.Items.Add(item);
                    await db.SaveChangesAsync();
                    acked.Enqueue((item.Id, log.Last(CommandSource.SaveChanges).Port, clock.Elapsed));
                    await db.Items.AsNoTracking().Where(i => i.Id == item.Id).ToListAsync();
                    Interlocked.Increment(ref reads);
                }
                catch (Exception e)
                {
                    Failed(e);
                    await Task.Delay(20);
                }
            }
        })).ToList();

        try
        {
            Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(acked.Count > 50), TimeSpan.FromSeconds(10)), "the workload did not start");
            await Lab.RunAsync("pg crash-primary");
            Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(cluster.Topology.Primary is null), TimeSpan.FromSeconds(5)), "the crash was not noticed");
            promotedAt = clock.Elapsed;
            await Lab.RunAsync("pg promote n2");
            var before = acked.Count;
            Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(acked.Count(a => a.Port == 15433) > 50), TimeSpan.FromSeconds(15)),
                $"writes did not resume on the new primary; {acked.Count - before} acked since; failures: {string.Join(", ", typed.Select(kv => $"{kv.Key} {kv.Value}"))}");
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(workers);
        }

        try
        {
            output.WriteLine($"acked: {string.Join(", ", acked.GroupBy(a => a.Port).Select(g => $"{g.Key}×{g.Count()}"))}; reads {reads}; failures: {string.Join(", ", typed.Select(kv => $"{kv.Key} {kv.Value}"))}; untyped {untyped.Count}");
            foreach (var e in untyped.Take(3))
            {
                output.WriteLine(e.ToString());
            }

            // 0 writes acknowledged by a node that was not the primary then: 15432 until the crash, 15433 after it
            // was promoted, never the replica 15434.
            Assert.DoesNotContain(acked, a => a.Port == 15434);
            Assert.DoesNotContain(acked, a => a.Port == 15433 && a.At < promotedAt);
            Assert.Empty(untyped);

            // Every write the new primary acknowledged is there.
            var onNew = acked.Where(a => a.Port == 15433).Select(a => a.Id).ToList();
            var present = (long)(await EfLab.ScalarAsync(15433, $"SELECT count(*) FROM ef_tests.items WHERE \"Id\" IN ({string.Join(',', onNew)})"))!;
            Assert.Equal(onNew.Count, present);
        }
        finally
        {
            await Lab.RunAsync("pg reset", timeoutSeconds: 240);
        }
    }
}
