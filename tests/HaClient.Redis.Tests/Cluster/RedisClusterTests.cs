using System.Diagnostics;
using HaClient.Redis.Caching;
using HaClient.Testing;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace HaClient.Redis.Tests;

/// <summary>Redis Cluster mode against the lab's six-node cluster (eng/lab.sh cluster).</summary>
[Collection("RedisClusterLab")]
[Trait("Category", "Lab")]
public sealed class RedisClusterTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task ClusterKnowsEveryShardAndWritesGoToEachShardsPrimary()
    {
        await using var d = RedisDeployment.Create(ClusterLabFixture.Options(seeds: 17001));
        Assert.True(await d.WaitForPrimaryAsync(TimeSpan.FromSeconds(10)), $"topology: {string.Join("; ", d.Topology.Shards)}");
        Assert.Equal(3, d.Topology.Shards.Count);
        Assert.Equal(6, d.Topology.Nodes.Count); // five discovered from the one seed
        for (var shard = 0; shard < 3; shard++)
        {
            var owner = await ClusterLabFixture.OwnerAsync(ClusterLabFixture.FirstSlots[shard]);
            var key = ClusterLabFixture.KeyOf(shard);
            var port = await d.ExecuteKeyWriteAsync(key, async (db, _) =>
            {
                await db.StringSetAsync(key, "v");
                return ClusterLabFixture.Port(db);
            });
            Assert.Equal(owner, port);
            Assert.Equal("v", (string?)await d.ExecuteKeyReadAsync(key, (db, _) => db.StringGetAsync(key), RedisReadPreference.Primary));
            var s = d.Topology.Shards.Single(x => x.Slots.StartsWith($"{ClusterLabFixture.FirstSlots[shard]}-", StringComparison.Ordinal));
            Assert.Equal($"127.0.0.1:{owner}", s.Primary?.Endpoint.ToString());
            Assert.Single(s.Replicas);
        }
    }

    [Fact]
    public async Task UnkeyedCallsAreRefusedInClusterMode()
    {
        await using var d = RedisDeployment.Create(ClusterLabFixture.Options());
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => d.ExecuteWriteAsync((db, _) => db.StringSetAsync("k", "v")));
        Assert.Contains("ExecuteKeyWriteAsync", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ADeploymentDisposedAtOnceStopsCleanly()
    {
        // Disposed while its first probe round is in flight (the round is cut off by the stop): no exception escapes.
        for (var i = 0; i < 5; i++)
        {
            var d = RedisDeployment.Create(ClusterLabFixture.Options());
            await d.DisposeAsync();
        }
    }

    [Fact]
    public async Task ReadsGoToTheShardsReplicaWithinTheLagBound()
    {
        var options = ClusterLabFixture.Options();
        options.MaxLagBytes = 0; // only caught-up replicas
        await using var d = RedisDeployment.Create(options);
        Assert.True(await d.WaitForPrimaryAsync(TimeSpan.FromSeconds(10)));
        for (var shard = 0; shard < 3; shard++)
        {
            var key = ClusterLabFixture.KeyOf(shard);
            var primary = await d.ExecuteKeyWriteAsync(key, async (db, _) =>
            {
                await db.StringSetAsync(key, "r");
                return ClusterLabFixture.Port(db);
            }, new WriteDurability(1, TimeSpan.FromMilliseconds(500)));

            // Once the replica's probed offset has caught up with its primary's, reads go to it and see the write.
            Assert.True(await Lab.EventuallyAsync(async () =>
            {
                var (port, value) = await d.ExecuteKeyReadAsync(key, async (db, _) => (ClusterLabFixture.Port(db), (string?)await db.StringGetAsync(key)));
                Assert.Equal("r", value);
                return port != primary;
            }, Generous), $"reads of shard {shard} never went to a replica: {string.Join("; ", d.Topology.Shards)}");
        }

        // A replica beyond the bound is never chosen: the router's rule is unit-tested (ClusterRouterTests); here every
        // replica read above was checked against the value just written.
    }

    [Fact]
    public async Task AfterAMasterCrashWritesResumeOnThePromotedReplica()
    {
        await using var d = RedisDeployment.Create(ClusterLabFixture.Options());
        try
        {
            Assert.True(await d.WaitForPrimaryAsync(TimeSpan.FromSeconds(10)));
            var key = ClusterLabFixture.KeyOf(0);
            var other = ClusterLabFixture.KeyOf(1);
            var old = await ClusterLabFixture.OwnerAsync(0);
            var version = d.Topology.Version;
            await ClusterLabFixture.RunAsync("cluster crash-master 1");
            var sw = Stopwatch.StartNew();
            int? port = null;
            var otherShardFailures = 0;
            while (port is null && sw.Elapsed < Generous)
            {
                try
                {
                    var p = await d.ExecuteKeyWriteAsync(key, async (db, _) =>
                    {
                        await db.StringSetAsync(key, "after");
                        return ClusterLabFixture.Port(db);
                    });
                    if (p != old)
                    {
                        port = p;
                    }
                }
                catch (HaClientException)
                {
                }

                try
                {
                    await d.ExecuteKeyWriteAsync(other, (db, _) => db.StringSetAsync(other, "x"));
                }
                catch (HaClientException)
                {
                    otherShardFailures++;
                }
            }

            Assert.NotNull(port);
            Assert.Equal("master", await ClusterLabFixture.RoleAsync(port.Value));
            Assert.Equal(0, otherShardFailures); // the other shards never noticed
            Assert.True(d.Topology.Version > version);
            var shard = d.Topology.Shards.Single(s => s.Slots.StartsWith("0-", StringComparison.Ordinal));
            Assert.Equal($"127.0.0.1:{port}", shard.Primary?.Endpoint.ToString());
        }
        finally
        {
            await ClusterLabFixture.RestoreAsync();
        }
    }

    [Fact]
    public async Task AHungMasterReleasesEveryCallAtTheBudget()
    {
        var budget = TimeSpan.FromSeconds(1);
        var margin = TimeSpan.FromSeconds(2); // generous: 2 cores under load stretch timers
        await using var d = RedisDeployment.Create(ClusterLabFixture.Options(budget));
        try
        {
            Assert.True(await d.WaitForPrimaryAsync(TimeSpan.FromSeconds(10)));
            var key = ClusterLabFixture.KeyOf(1);
            var old = await ClusterLabFixture.OwnerAsync(ClusterLabFixture.FirstSlots[1]);
            await ClusterLabFixture.RunAsync("cluster hang-master 2");
            var sw = Stopwatch.StartNew();
            int? port = null;
            while (port is null && sw.Elapsed < Generous)
            {
                var call = Stopwatch.StartNew();
                try
                {
                    var p = await d.ExecuteKeyWriteAsync(key, async (db, _) =>
                    {
                        await db.StringSetAsync(key, "h");
                        return ClusterLabFixture.Port(db);
                    });
                    if (p != old)
                    {
                        port = p;
                    }
                }
                catch (HaClientException)
                {
                }

                Assert.True(call.Elapsed < budget + margin, $"a call took {call.Elapsed.TotalMilliseconds:0} ms (budget {budget.TotalMilliseconds} ms)");
            }

            Assert.NotNull(port);
            Assert.Equal("master", await ClusterLabFixture.RoleAsync(port.Value));
        }
        finally
        {
            await ClusterLabFixture.RunAsync("cluster thaw");
            await ClusterLabFixture.RestoreAsync();
        }
    }

    [Fact]
    public async Task SessionStoreWorksOnTheCluster()
    {
        var services = new ServiceCollection();
        services.AddHaRedisSessionStore(o =>
        {
            o.Endpoints = ClusterLabFixture.NodePorts.Select(p => $"127.0.0.1:{p}").ToList();
            o.Cluster = true;
            o.WaitReplicas = 1;
            o.Resilience.OperationTimeout = TimeSpan.FromSeconds(2);
        });
        await using var sp = services.BuildServiceProvider();
        var cache = sp.GetRequiredService<IDistributedCache>();
        Assert.True(await sp.GetRequiredService<RedisDeployment>().WaitForPrimaryAsync(TimeSpan.FromSeconds(10)));
        var prefix = "t:clsess:" + Guid.NewGuid().ToString("N")[..8] + ":";
        var entry = new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(20) };
        for (var i = 0; i < 30; i++)
        {
            await cache.SetAsync(prefix + i, [(byte)i, 7], entry);
        }

        for (var i = 0; i < 30; i++)
        {
            var v = await cache.GetAsync(prefix + i);
            Assert.NotNull(v);
            Assert.Equal((byte)i, v[0]);
            await cache.RefreshAsync(prefix + i);
        }

        await cache.RemoveAsync(prefix + 0);
        Assert.Null(await cache.GetAsync(prefix + 0));
    }

    [Fact]
    public void AnEmptySeedListFailsAtStartUpNamingTheSetting()
    {
        var e = Assert.Throws<OptionsValidationException>(() => RedisDeployment.Create(new RedisOptions { Cluster = true }));
        Assert.Contains("Endpoints:", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(16479, "Sentinel")]
    [InlineData(16379, "standalone")]
    public async Task ASeedThatIsNoClusterNodeFailsAtStartUpNamingTheSetting(int port, string what)
    {
        await Lab.RunAsync("redis up", 90);
        await using var d = RedisDeployment.Create(ClusterLabFixture.Options(seeds: port));
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => d.WaitForPrimaryAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains("Endpoints[0]:", e.Message, StringComparison.Ordinal);
        Assert.Contains(what, e.Message, StringComparison.Ordinal);
        Assert.Contains("Cluster", e.Message, StringComparison.Ordinal);
    }
}
