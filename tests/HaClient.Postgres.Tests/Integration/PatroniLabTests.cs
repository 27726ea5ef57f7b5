using System.Collections.Concurrent;
using System.Diagnostics;
using HaClient.Postgres;
using Npgsql;
using Xunit;

namespace HaClient.Postgres.Tests.Integration;

/// <summary>The Postgres client against the real Patroni cluster (PG 15442-15444, REST 18008-18010, etcd).</summary>
[Collection("plain-lab")]
[Trait("Category", "Lab")]
public sealed class PatroniLabTests
{
    private static readonly int[] Ports = [15442, 15443, 15444];

    [Fact]
    public async Task Leader_crash_in_synchronous_mode_loses_no_acknowledged_write_and_writes_follow_the_new_leader()
    {
        // The collection fixture holds the drill lock.
        await Lab.RunAsync("patroni up --sync", 240);
        await using var cluster = PostgresCluster.Create(new PostgresClusterOptions
        {
            ConnectionString = $"Host={string.Join(',', Ports.Select(p => $"127.0.0.1:{p}"))};{Lab.Credentials}",
            PatroniUrls = ["http://127.0.0.1:18008", "http://127.0.0.1:18009", "http://127.0.0.1:18010"],
            Resilience = { OperationTimeout = TimeSpan.FromSeconds(2) },
        }, name: "patroni");
        Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(cluster.Topology.Primary is not null), TimeSpan.FromSeconds(15)), "no leader found");
        var oldLeader = cluster.Topology.Primary!.Endpoint.Port;
        await cluster.ExecuteWriteAsync(async (c, ct) =>
        {
            await using var cmd = new NpgsqlCommand("CREATE TABLE IF NOT EXISTS t_patroni(id bigint PRIMARY KEY)", c);
            return await cmd.ExecuteNonQueryAsync(ct);
        });

        var acked = new ConcurrentQueue<(long Id, int Port, long At)>();
        var unknown = 0;
        long next = DateTime.UtcNow.Ticks;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var writers = Enumerable.Range(0, 3).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var id = Interlocked.Increment(ref next);
                try
                {
                    var port = await cluster.ExecuteWriteAsync(async (c, ct) =>
                    {
                        await using var cmd = new NpgsqlCommand("INSERT INTO t_patroni VALUES (@id) RETURNING inet_server_port()", c);
                        cmd.Parameters.AddWithValue("id", id);
                        return (int)(await cmd.ExecuteScalarAsync(ct))!;
                    });
                    acked.Enqueue((id, port, Stopwatch.GetTimestamp()));
                }
                catch (WriteOutcomeUnknownException)
                {
                    Interlocked.Increment(ref unknown);
                }
                catch (HaClientException)
                {
                }

                await Task.Delay(10);
            }
        })).ToArray();

        try
        {
            Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(acked.Count > 20), TimeSpan.FromSeconds(10)));
            await Lab.RunAsync("patroni crash-leader");
            var crashedAt = Stopwatch.GetTimestamp();
            Assert.True(
                await Lab.EventuallyAsync(() => Task.FromResult(acked.Any(a => a.Port != oldLeader)), TimeSpan.FromSeconds(40)),
                "writes never reached a new leader");
            await stop.CancelAsync();
            await Task.WhenAll(writers);

            // Nothing was acknowledged by the dead leader after the crash, and every acknowledged write survived.
            Assert.DoesNotContain(acked, a => a.Port == oldLeader && a.At > crashedAt + Stopwatch.Frequency);
            var newLeader = cluster.Topology.Primary!.Endpoint.Port;
            Assert.NotEqual(oldLeader, newLeader);
            await using var check = new NpgsqlConnection($"Host=127.0.0.1;Port={newLeader};{Lab.Credentials};Pooling=false");
            await check.OpenAsync();
            await using var cmd = new NpgsqlCommand("SELECT count(*) FROM t_patroni WHERE id = ANY(@ids)", check);
            var ids = acked.Select(a => a.Id).ToArray();
            cmd.Parameters.AddWithValue("ids", ids);
            Assert.Equal(ids.Length, (long)(await cmd.ExecuteScalarAsync())!);
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(writers).ContinueWith(_ => { });
            await Lab.RunAsync("patroni restore", 240);
        }
    }
}
