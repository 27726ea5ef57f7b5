using HaClient.Postgres;
using Npgsql;
using Xunit;
using static HaClient.Postgres.Tests.Integration.PlainLabTests;

namespace HaClient.Postgres.Tests.Integration;

/// <summary>Read-your-writes tokens as input, against the plain lab: a write's token names the cluster (its system
/// identifier), a token of another identifier is ignored, and a token beyond the primary is capped.</summary>
[Collection("plain-lab")]
[Trait("Category", "Lab")]
public sealed class TokenLabTests
{
    private static async Task<ulong> SystemIdentifierAsync(int port)
    {
        await using var c = new NpgsqlConnection($"Host=127.0.0.1;Port={port};{Lab.Credentials};Pooling=false;Timeout=5");
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT system_identifier FROM pg_control_system()", c);
        return unchecked((ulong)(long)(await cmd.ExecuteScalarAsync())!);
    }

    private static Task<WriteResult<int>> WriteAsync(PostgresCluster cluster)
        => cluster.ExecuteWriteWithTokenAsync(async (c, t) =>
        {
            await using var cmd = new NpgsqlCommand("INSERT INTO t_items(v) VALUES ('ident')", c);
            return await cmd.ExecuteNonQueryAsync(t);
        });

    [Fact]
    public async Task A_token_names_its_cluster_and_a_token_of_another_cluster_is_ignored()
    {
        await using var cluster = await ClusterAsync(o => o.ReplicaLag.MaxLagTime = TimeSpan.FromSeconds(30));
        await EnsureTableAsync(cluster);
        var identifier = await SystemIdentifierAsync(15432);
        var w = await WriteAsync(cluster);
        Assert.Equal(identifier, w.Token.SystemIdentifier);
        Assert.Equal(w.Token, ConsistencyToken.Parse(w.Token.ToString()));
        await using (var c = await cluster.OpenWriteConnectionAsync())
        {
            Assert.Equal(identifier, (await PostgresCluster.GetConsistencyTokenAsync(c)).SystemIdentifier); // the path EF Core takes
        }

        // A position no replica has reached: this cluster's token goes to the primary; the same position under another
        // identifier is no token at all, so a replica serves it.
        var far = w.Token.Lsn + (1UL << 40);
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(15432, await ReadPortAsync(cluster, new ConsistencyToken(far, identifier)));
            Assert.NotEqual(15432, await ReadPortAsync(cluster, new ConsistencyToken(far, identifier ^ 1)));
        }

        Assert.Equal(default, cluster.CapToken(new ConsistencyToken(far, identifier ^ 1), cluster.TimeProvider.GetTimestamp()));
    }

    [Fact]
    public async Task A_token_beyond_the_primary_is_capped_once_a_probe_began_after_the_request()
    {
        await using var cluster = await ClusterAsync();
        await EnsureTableAsync(cluster);
        var forged = ConsistencyToken.Parse("FFFFFFFF/FFFFFFFF");
        // A request that began after every probe so far (an hour from now: with "now", a probe of the primary that began in
        // the microseconds before the call could cap it at once, as the Redis twin of this test did on CI): the token
        // stands, and the monitor is asked for a fresh sample of the primary.
        var first = cluster.CapToken(forged, cluster.TimeProvider.GetTimestamp() + (cluster.TimeProvider.TimestampFrequency * 3600));
        Assert.Equal(forged.Lsn, first.Lsn);
        var started = cluster.TimeProvider.GetTimestamp();

        ConsistencyToken capped = default;
        Assert.True(await Lab.EventuallyAsync(() =>
        {
            capped = cluster.CapToken(forged, started);
            return Task.FromResult(capped.Lsn != forged.Lsn);
        }, TimeSpan.FromSeconds(5)), "the forged token was never capped");
        Assert.Equal(await SystemIdentifierAsync(15432), capped.SystemIdentifier);

        // A real token written after that is never capped by the probe that capped the forged one.
        var real = (await WriteAsync(cluster)).Token;
        Assert.Equal(real, cluster.CapToken(real, cluster.TimeProvider.GetTimestamp()));

        // With the capped token a replica serves the read again.
        Assert.True(await Lab.EventuallyAsync(async () => await ReadPortAsync(cluster, capped) != 15432, TimeSpan.FromSeconds(5)), "reads with the capped token never left the primary");
    }
}
