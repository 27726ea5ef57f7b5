using System.Diagnostics;
using HaClient.Postgres;
using HaClient.Testing;
using Npgsql;
using Xunit;

namespace HaClient.Postgres.Tests.Integration;

/// <summary>
/// Calls abandoned on a frozen primary must not cost the process its thread pool while the server stays frozen. Npgsql
/// skips a cancellation that arrives while a reused connection still waits for its reset's reply (the first command
/// after the pool lent it), so those calls stay in flight after HaClient released their callers; when Npgsql's own
/// command timeout then fired (30 s by default under HaClient before the fix), Npgsql sent its cancel request
/// synchronously on the thread-pool thread that awaited the read — a connect, an SSL request and a read, each waiting up
/// to the connection's <c>Timeout</c> against the frozen server. Eight of them held the pool for seconds.
/// </summary>
[Collection("plain-lab")]
[Trait("Category", "Lab")]
public sealed class FrozenServerPoolTests
{
    [Fact]
    public async Task Calls_abandoned_on_a_primary_frozen_for_40_s_never_stall_the_thread_pool()
    {
        var budget = TimeSpan.FromSeconds(4);
        var logs = new RecordingLoggerFactory(); // Npgsql's own log too: the pools log through the cluster's factory
        await using var cluster = PostgresCluster.Create(new PostgresClusterOptions
        {
            ConnectionString = $"Host=127.0.0.1:15432,127.0.0.1:15433,127.0.0.1:15434;{Lab.Credentials}",
            ProbeInterval = TimeSpan.FromMilliseconds(200),
            Resilience = { OperationTimeout = budget },
        }, logs, name: "frozen");
        Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(cluster.Topology.Primary?.Endpoint.Port == 15432), TimeSpan.FromSeconds(15)), "no primary on 15432");

        // Eight callers writing back to back on pooled connections (each reused one sends its reset with its next command)
        // when the primary freezes: the calls sent in the moment before the monitor notices are stuck behind the reset.
        const int Callers = 8;
        var sent = 0;
        var callers = Enumerable.Range(0, Callers).Select(async _ =>
        {
            for (var i = 0; i < 100_000; i++)
            {
                Interlocked.Increment(ref sent);
                if (await Record.ExceptionAsync(() => SleepAsync(cluster, 0)) is { } e)
                {
                    return e; // the first failure (the freeze) ends this caller
                }
            }

            return null;
        }).ToArray();
        Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(Volatile.Read(ref sent) > 200), TimeSpan.FromSeconds(20)), "the callers did not get going");

        await Lab.RunAsync("pg hang-primary");
        var frozen = Stopwatch.StartNew();
        try
        {
            var failures = await Task.WhenAll(callers).WaitAsync(TimeSpan.FromSeconds(30));
            Assert.All(failures, e => Assert.IsAssignableFrom<HaClientException>(e));

            // Watch the pool from a thread of its own until 40 s into the freeze (past the old 30 s command timeout and
            // then some): how long a work item queued to the pool waits to run.
            var longestWait = await Task.Run(() => LongestPoolWait(TimeSpan.FromSeconds(40) - frozen.Elapsed));
            var cancelsOnPool = logs.OnThreadPool.Count(m => m.Contains("Sending PostgreSQL cancellation", StringComparison.Ordinal));
            var cancels = logs.Entries.Count(e => e.Message.Contains("Sending PostgreSQL cancellation", StringComparison.Ordinal));

            // The direct evidence: while the server is frozen, no cancel request (a synchronous connect and read against
            // it) is made on a thread-pool thread. HaClient's own cancellations run on threads of their own.
            Assert.True(cancelsOnPool == 0, $"{cancelsOnPool} of {cancels} cancel requests to the frozen server were made on thread-pool threads; the longest pool wait was {longestWait.TotalMilliseconds:0} ms");
            Assert.True(longestWait < TimeSpan.FromSeconds(1), $"a thread-pool work item waited {longestWait.TotalMilliseconds:0} ms while the primary was frozen ({cancels} cancel requests)");
        }
        finally
        {
            await Lab.RunAsync("pg resume");
        }

        Assert.True(await Lab.EventuallyAsync(async () => await Record.ExceptionAsync(() => SleepAsync(cluster, 0)) is null, TimeSpan.FromSeconds(20)), "writes did not resume after the primary thawed");
    }

    private static Task<int> SleepAsync(PostgresCluster cluster, double seconds)
        => cluster.ExecuteWriteAsync(async (c, ct) =>
        {
            await using var cmd = new NpgsqlCommand($"SELECT pg_sleep({seconds.ToString(System.Globalization.CultureInfo.InvariantCulture)})", c);
            await cmd.ExecuteNonQueryAsync(ct);
            return 1;
        });

    /// <summary>Queues a marker to the thread pool every 20 ms for <paramref name="span"/>, on a dedicated thread, and
    /// returns the longest time one waited to run.</summary>
    private static TimeSpan LongestPoolWait(TimeSpan span)
    {
        var longest = TimeSpan.Zero;
        var watch = new Thread(() =>
        {
            var end = Stopwatch.GetTimestamp() + (long)(span.TotalSeconds * Stopwatch.Frequency);
            using var ran = new ManualResetEventSlim();
            while (Stopwatch.GetTimestamp() < end)
            {
                ran.Reset();
                var queued = Stopwatch.GetTimestamp();
                ThreadPool.UnsafeQueueUserWorkItem(static s => ((ManualResetEventSlim)s!).Set(), ran);
                if (!ran.Wait(TimeSpan.FromSeconds(30)))
                {
                    longest = TimeSpan.FromSeconds(30);
                    return;
                }

                var waited = Stopwatch.GetElapsedTime(queued);
                if (waited > longest)
                {
                    longest = waited;
                }

                Thread.Sleep(20);
            }
        }) { IsBackground = true, Name = "pool watch" };
        watch.Start();
        watch.Join();
        return longest;
    }
}
