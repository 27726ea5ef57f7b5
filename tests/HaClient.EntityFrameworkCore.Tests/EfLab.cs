using HaClient.Postgres;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using Xunit;

namespace HaClient.EntityFrameworkCore.Tests;

/// <summary>The EF Core lab tests: one at a time, holding the drill lock (they pause replay and crash the primary).</summary>
[CollectionDefinition("ef-lab")]
public sealed class EfLabCollection : ICollectionFixture<PlainLabFixture>;

/// <summary>The plain lab (primary 127.0.0.1:15432, replicas 15433 and 15434) as a cluster, and the schema.</summary>
public static class EfLab
{
    public const int PrimaryPort = 15432;

    public static readonly int[] Ports = [15432, 15433, 15434];

    public static async Task<PostgresCluster> ClusterAsync(Action<PostgresClusterOptions>? configure = null)
    {
        var o = new PostgresClusterOptions
        {
            ConnectionString = $"Host={string.Join(',', Ports.Select(p => $"127.0.0.1:{p}"))};{Lab.Credentials}",
            ProbeInterval = TimeSpan.FromMilliseconds(200),
            ReplicaLag = { MaxLagTime = TimeSpan.FromSeconds(1) },
        };
        configure?.Invoke(o);
        var cluster = PostgresCluster.Create(o, name: "ef-test");
        await cluster.WaitForTopologyAsync(TimeSpan.FromSeconds(10));
        Assert.True(
            await Lab.EventuallyAsync(() => Task.FromResult(cluster.Topology.Primary is not null && cluster.Topology.Hosts.Count(h => h.Role == PostgresRole.Replica) == 2), TimeSpan.FromSeconds(15)),
            "no primary and two replicas found");
        return cluster;
    }

    /// <summary>Applies the migration (idempotent).</summary>
    public static async Task MigrateAsync(PostgresCluster cluster)
    {
        await using var db = TestDb.Create(cluster);
        await db.Database.MigrateAsync();
    }

    /// <summary>Runs <paramref name="sql"/> on one host directly (not through HaClient).</summary>
    public static async Task<object?> ScalarAsync(int port, string sql)
    {
        await using var c = new NpgsqlConnection($"Host=127.0.0.1;Port={port};{Lab.Credentials};Pooling=false;Timeout=5");
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, c);
        return await cmd.ExecuteScalarAsync();
    }
}
