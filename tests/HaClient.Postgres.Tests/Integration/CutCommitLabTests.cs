using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using HaClient.Failover;
using HaClient.Postgres;
using Npgsql;
using Xunit;
using Xunit.Abstractions;

namespace HaClient.Postgres.Tests.Integration;

/// <summary>Transactions cut on purpose: many writers run <see cref="PostgresCluster.ExecuteTransactionAsync{T}(Func{NpgsqlConnection, CancellationToken, Task{T}}, CancellationToken)"/>
/// while the primary crashes, so that some are between sending their commit and reading its reply. Afterwards every
/// outcome HaClient reported is checked against the new primary's table: a write reported as not committed (or not
/// sent) is absent, none is there twice, and in synchronous mode every write reported as committed is there.</summary>
[Collection("plain-lab")]
[Trait("Category", "Lab")]
public sealed class CutCommitLabTests(ITestOutputHelper output)
{
    private enum Reported
    {
        Committed,
        NotCommitted,
        NotSent,
        Unknown,
    }

    /// <summary>Counts <c>haclient.errors</c> of cluster <paramref name="cluster"/> by kind while it lives.</summary>
    private static MeterListener CountErrors(string cluster, ConcurrentDictionary<string, long> counts)
    {
        var listener = new MeterListener
        {
            InstrumentPublished = (i, l) =>
            {
                if (i.Meter.Name == "HaClient" && i.Name == "haclient.errors")
                {
                    l.EnableMeasurementEvents(i);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            string? name = null, kind = null;
            foreach (var t in tags)
            {
                if (t.Key == "haclient.cluster") name = t.Value as string;
                if (t.Key == "error.type") kind = t.Value as string;
            }

            if (name == cluster && kind is not null)
            {
                counts.AddOrUpdate(kind, value, (_, n) => n + value);
            }
        });
        listener.Start();
        return listener;
    }

    /// <summary>Writers insert ids 1, 2, 3... (per call with <paramref name="retry"/> when it asks for a retry, else by
    /// the cluster's setting; each row carries the id the caller chose, so a retry that wrote twice
    /// shows as two rows) until <paramref name="stop"/>; returns what each call was told.</summary>
    private static async Task<ConcurrentDictionary<long, Reported>> WriteUntilAsync(PostgresCluster cluster, string table, int writers, WriteRetry? retry, Func<ConcurrentDictionary<long, Reported>, Task> fault, TimeSpan limit)
    {
        var reported = new ConcurrentDictionary<long, Reported>();
        long next = 0;
        using var stop = new CancellationTokenSource(limit);
        var tasks = Enumerable.Range(0, writers).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var id = Interlocked.Increment(ref next);
                try
                {
                    Func<NpgsqlConnection, CancellationToken, Task<int>> insert = async (c, ct) =>
                    {
                        await using var cmd = new NpgsqlCommand($"INSERT INTO {table}(id) VALUES ({id})", c);
                        return await cmd.ExecuteNonQueryAsync(ct);
                    };
                    // The retry mode per call when given; else the cluster's setting.
                    await (retry is { } mode && mode != WriteRetry.None ? cluster.ExecuteTransactionAsync(insert, mode) : cluster.ExecuteTransactionAsync(insert));
                    reported[id] = Reported.Committed;
                }
                catch (WriteNotCommittedException)
                {
                    reported[id] = Reported.NotCommitted;
                }
                catch (NoEligibleEndpointException)
                {
                    reported[id] = Reported.NotSent;
                }
                catch (WriteOutcomeUnknownException)
                {
                    reported[id] = Reported.Unknown;
                }
            }
        })).ToArray();
        try
        {
            await fault(reported);
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(tasks);
        }

        return reported;
    }

    private static async Task<Dictionary<long, long>> RowsAsync(PostgresCluster cluster, string table)
        => await cluster.ExecuteWriteAsync(async (c, ct) =>
        {
            var rows = new Dictionary<long, long>();
            await using var cmd = new NpgsqlCommand($"SELECT id, count(*) FROM {table} GROUP BY id", c);
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
            {
                rows[r.GetInt64(0)] = r.GetInt64(1);
            }

            return rows;
        });

    private static Task<bool> CommittedSinceAsync(ConcurrentDictionary<long, Reported> reported, int count, long after)
        => Task.FromResult(reported.Count(kv => kv.Key > after && kv.Value == Reported.Committed) >= count);

    /// <summary>Checks every reported outcome against <paramref name="rows"/>; returns the writes reported committed
    /// that are missing (lost acknowledged writes: the replication mode's RPO in asynchronous mode).</summary>
    private long[] Check(ConcurrentDictionary<long, Reported> reported, Dictionary<long, long> rows, string run, ConcurrentDictionary<string, long> errors)
    {
        output.WriteLine($"{run}: engine {string.Join(", ", errors.Where(kv => kv.Key.StartsWith("write_", StringComparison.Ordinal)).Select(kv => $"{kv.Key}={kv.Value}"))}");
        var counts = reported.GroupBy(kv => kv.Value).ToDictionary(g => g.Key, g => g.Count());
        var lost = reported.Where(kv => kv.Value == Reported.Committed && !rows.ContainsKey(kv.Key)).Select(kv => kv.Key).ToArray();
        output.WriteLine($"{run}: {string.Join(", ", counts.Select(kv => $"{kv.Key}={kv.Value}"))}; committed but missing: {lost.Length}");
        Assert.DoesNotContain(rows, kv => kv.Value > 1); // never written twice
        Assert.DoesNotContain(reported, kv => kv.Value is Reported.NotCommitted or Reported.NotSent && rows.ContainsKey(kv.Key)); // "not committed" is true
        Assert.DoesNotContain(rows.Keys, id => !reported.ContainsKey(id)); // nothing written that no caller asked for
        return lost;
    }

    [Theory]
    [InlineData("crash-primary", WriteRetry.None)]
    [InlineData("crash-primary", WriteRetry.WhenNotCommitted)]
    [InlineData("hang-primary", WriteRetry.WhenNotCommitted)]
    public async Task Asynchronous_mode_crash_or_freeze_and_promotion_every_not_committed_write_is_absent_and_none_is_written_twice(string fault, WriteRetry retry)
    {
        await Lab.RunAsync("pg reset");
        // WriteRetry.None is the default: that run leaves the setting out.
        await using var cluster = PostgresCluster.Create(new PostgresClusterOptions
        {
            ConnectionString = $"Host=127.0.0.1:15432,127.0.0.1:15433,127.0.0.1:15434;{Lab.Credentials}",
            ProbeInterval = TimeSpan.FromMilliseconds(200),
            Resilience = { OperationTimeout = TimeSpan.FromSeconds(6) },
        }, name: "cut");
        var errors = new ConcurrentDictionary<string, long>();
        using var listener = CountErrors("cut", errors);
        Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(cluster.Topology.Primary is not null), TimeSpan.FromSeconds(10)), "no primary");
        var table = $"t_cut_{fault.Replace('-', '_')}_{retry}".ToLowerInvariant();
        await cluster.ExecuteWriteAsync(async (c, ct) =>
        {
            await using var cmd = new NpgsqlCommand($"DROP TABLE IF EXISTS {table}; CREATE TABLE {table}(id bigint)", c);
            return await cmd.ExecuteNonQueryAsync(ct);
        });
        try
        {
            var reported = await WriteUntilAsync(cluster, table, writers: 16, retry, async r =>
            {
                Assert.True(await Lab.EventuallyAsync(() => CommittedSinceAsync(r, 200, 0), TimeSpan.FromSeconds(20)), "writes never got going");
                // A frozen primary stays frozen until the end, then thaws as a split-brain primary on the old timeline
                // (HaClient writes to the highest one): what its abandoned calls finish there is not the cluster's history.
                await Lab.RunAsync($"pg {fault}");
                var atCrash = r.Keys.DefaultIfEmpty().Max();
                await Task.Delay(TimeSpan.FromSeconds(1)); // the outage the writers live through (not synchronization)
                await Lab.RunAsync("pg promote n2");
                Assert.True(await Lab.EventuallyAsync(() => CommittedSinceAsync(r, 100, atCrash + 16), TimeSpan.FromSeconds(20)), "writes did not resume on the new primary");
            }, TimeSpan.FromSeconds(60));
            var rows = await RowsAsync(cluster, table);
            Check(reported, rows, $"async {fault}, retry {retry}", errors);
            if (retry == WriteRetry.WhenNotCommitted)
            {
                Assert.DoesNotContain(Reported.NotCommitted, reported.Values);
            }
        }
        finally
        {
            await Lab.RunAsync("pg reset");
        }
    }

    [Fact]
    public async Task Synchronous_mode_leader_crash_with_a_budget_longer_than_the_failover_loses_nothing_and_doubles_nothing()
    {
        await Lab.RunAsync("patroni up --sync", 240);
        await using var cluster = PostgresCluster.Create(new PostgresClusterOptions
        {
            ConnectionString = $"Host=127.0.0.1:15442,127.0.0.1:15443,127.0.0.1:15444;{Lab.Credentials}",
            PatroniUrls = ["http://127.0.0.1:18008", "http://127.0.0.1:18009", "http://127.0.0.1:18010"],
            Resilience = { OperationTimeout = TimeSpan.FromSeconds(15) },
            TransactionRetry = WriteRetry.WhenNotCommitted,
        }, name: "cut-sync");
        var errors = new ConcurrentDictionary<string, long>();
        using var listener = CountErrors("cut-sync", errors);
        Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(cluster.Topology.Primary is not null), TimeSpan.FromSeconds(15)), "no leader");
        await cluster.ExecuteWriteAsync(async (c, ct) =>
        {
            await using var cmd = new NpgsqlCommand("DROP TABLE IF EXISTS t_cut_sync; CREATE TABLE t_cut_sync(id bigint)", c);
            return await cmd.ExecuteNonQueryAsync(ct);
        });
        try
        {
            var reported = await WriteUntilAsync(cluster, "t_cut_sync", writers: 16, null, async r =>
            {
                Assert.True(await Lab.EventuallyAsync(() => CommittedSinceAsync(r, 200, 0), TimeSpan.FromSeconds(20)), "writes never got going");
                await Lab.RunAsync("patroni crash-leader");
                var atCrash = r.Keys.DefaultIfEmpty().Max();
                Assert.True(await Lab.EventuallyAsync(() => CommittedSinceAsync(r, 100, atCrash + 16), TimeSpan.FromSeconds(40)), "writes did not resume on the new leader");
            }, TimeSpan.FromSeconds(90));
            var rows = await RowsAsync(cluster, "t_cut_sync");
            Assert.Empty(Check(reported, rows, "sync leader crash, retry, 15 s budget", errors)); // no acknowledged write lost
            Assert.DoesNotContain(Reported.NotCommitted, reported.Values);
        }
        finally
        {
            await Lab.RunAsync("patroni restore", 240);
        }
    }
}
