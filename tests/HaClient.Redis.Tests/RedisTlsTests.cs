namespace HaClient.Redis.Tests;

/// <summary>Redis and its Sentinel over TLS only (the lab's <c>redis tls-up</c>: a lab CA, no plain port).</summary>
[Collection("RedisLab")]
[Trait("Category", "Lab")]
public sealed class RedisTlsTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(20);

    private static RedisOptions TlsOptions(string? ca) => new()
    {
        Sentinels = ["127.0.0.1:16491"],
        ServiceName = "haclient-tls",
        Tls = { Enabled = true, CaCertificatePath = ca },
        Resilience = { OperationTimeout = TimeSpan.FromSeconds(2) },
        WaitReplicas = 1,
    };

    [Fact]
    public async Task ASentinelDeploymentOverTlsServesDurableWritesAndReplicaReads()
    {
        var up = await RedisLabFixture.RunAsync("redis tls-up", TimeSpan.FromSeconds(60));
        var ca = up.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("ca=", StringComparison.Ordinal))[3..];
        try
        {
            var o = TlsOptions(ca);
            var hooked = 0;
            o.ConfigureOptions = c =>
            {
                Interlocked.Increment(ref hooked);
                Assert.True(c.Ssl, "the hook sees HaClient's TLS settings");
                c.EndPoints.Clear(); // HaClient restores the connection's endpoint after the hook
            };
            await using var d = RedisDeployment.Create(o);
            Assert.True(await d.WaitForPrimaryAsync(Generous), $"no primary over TLS: {string.Join(", ", d.Topology.Nodes)}");
            Assert.Equal("127.0.0.1:16391", d.CurrentPrimary);

            // A durable write: WAIT 1 is acknowledged by the replica, which replicates over TLS.
            var port = await d.ExecuteWriteAsync(async (db, _) =>
            {
                await db.StringSetAsync("t:tls", "1");
                return RedisLabFixture.Port(db);
            });
            Assert.Equal(16391, port);

            // The replica is learned from the primary's ROLE and serves reads within the bound.
            Assert.True(await Lab.EventuallyAsync(async () =>
            {
                var (on, value) = await d.ExecuteReadAsync(async (db, _) => (RedisLabFixture.Port(db), (string?)await db.StringGetAsync("t:tls")), RedisReadPreference.ReplicaPreferred);
                return on == 16392 && value == "1";
            }, Generous, pollMs: 100), $"no replica read over TLS: {string.Join(", ", d.Topology.Nodes)}");
            Assert.True(Volatile.Read(ref hooked) >= 3, $"the hook ran for {hooked} connections (two nodes and a Sentinel expected)");

            // Without the lab CA the servers' certificates are refused: no primary is ever verified.
            await using var untrusted = RedisDeployment.Create(TlsOptions(null));
            Assert.False(await untrusted.WaitForPrimaryAsync(TimeSpan.FromSeconds(3)));
        }
        finally
        {
            await RedisLabFixture.RunAsync("redis tls-down", TimeSpan.FromSeconds(30));
        }
    }
}
