using System.Diagnostics;
using HaClient.Redis.Caching;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace HaClient.Redis.Tests;

[Collection("RedisLab")]
[Trait("Category", "Lab")]
public sealed class RedisDeploymentTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task DiscoversThePrimaryThroughSentinels()
    {
        await using var d = RedisDeployment.Create(RedisLabFixture.SentinelOptions());
        Assert.True(await d.WaitForPrimaryAsync(TimeSpan.FromSeconds(10)));

        // Right after another test's `redis restore` the Sentinels may still be moving the master back (a fresh clone's
        // CI once read no primary here, after the hang test): the client's view must come to agree with the node that
        // says master, and stay on it.
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var actual = await RedisLabFixture.ActualMasterAsync();
            if (actual is not null && d.CurrentPrimary == $"127.0.0.1:{actual}")
            {
                break;
            }

            Assert.True(clock.Elapsed < Generous, $"after {Generous}: client primary {d.CurrentPrimary ?? "none"}, node that says master {actual?.ToString() ?? "none"}; topology {string.Join(", ", d.Topology.Nodes)}");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task DiscoversThePrimaryFromPlainEndpoints()
    {
        await using var d = RedisDeployment.Create(new RedisOptions { Endpoints = RedisLabFixture.NodePorts.Select(p => $"127.0.0.1:{p}").ToList() });
        Assert.True(await d.WaitForPrimaryAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal($"127.0.0.1:{await RedisLabFixture.ActualMasterAsync()}", d.CurrentPrimary);
    }

    [Fact]
    public async Task WritesGoToThePrimaryAndReadsToAReplicaWithinTheBound()
    {
        await using var d = RedisDeployment.Create(RedisLabFixture.SentinelOptions());
        Assert.True(await d.WaitForPrimaryAsync(TimeSpan.FromSeconds(10)));
        var master = await RedisLabFixture.ActualMasterAsync();
        var key = "t:rw:" + Guid.NewGuid();

        // Replicas are known (learned from the master's ROLE) and within the lag bound before the durable write: a
        // replica an earlier test froze or failed over may still be resynchronising, and WAIT counts only linked ones.
        await WaitUntilAsync(() =>
        {
            var t = d.Topology;
            return Enumerable.Range(0, t.Nodes.Count).Count(i => t.Nodes[i].Role == RedisNodeRole.Replica && t.GetLagBytes(i) <= d.Options.MaxLagBytes) == 2;
        }, Generous);
        // Both replicas confirm a write (a replica that was frozen by an earlier test may take a moment to acknowledge
        // again: ReplicationNotConfirmedException until it does, never a silent success).
        int? writtenOn = null;
        await WaitUntilAsync(async () =>
        {
            try
            {
                writtenOn = await d.ExecuteWriteAsync(async (db, _) =>
                {
                    await db.StringSetAsync(key, "v1");
                    return RedisLabFixture.Port(db);
                }, new WriteDurability(2, TimeSpan.FromMilliseconds(500)));
                return true;
            }
            catch (ReplicationNotConfirmedException)
            {
                return false;
            }
        }, Generous);
        Assert.Equal(master, writtenOn);
        var ports = new HashSet<int>();
        for (var i = 0; i < 6; i++)
        {
            var (port, value) = await d.ExecuteReadAsync(async (db, _) => (RedisLabFixture.Port(db), (string?)await db.StringGetAsync(key)));
            Assert.Equal("v1", value);
            ports.Add(port);
        }

        Assert.DoesNotContain(master!.Value, ports);
        Assert.Equal(master, RedisLabFixture.Port(d.GetWriteDatabase()));
        Assert.NotEqual(master, RedisLabFixture.Port(d.GetReadDatabase()));
    }

    [Fact]
    public async Task AfterCrashPrimaryWritesResumeOnTheNewPrimaryAndOneFailoverIsTraced()
    {
        // Every haclient.failover span of this deployment (its own name), from start-up on.
        var name = "crash-" + Guid.NewGuid().ToString("N")[..8];
        var failovers = new System.Collections.Concurrent.ConcurrentQueue<string?>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == HaClient.Telemetry.HaClientTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = a =>
            {
                if (a.OperationName == HaClient.Telemetry.HaClientTelemetry.FailoverActivityName && (string?)a.GetTagItem("haclient.cluster") == name)
                {
                    failovers.Enqueue((string?)a.GetTagItem("haclient.endpoint"));
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
        await using var d = RedisDeployment.Create(RedisLabFixture.SentinelOptions(), name: name);
        var changes = 0;
        d.TopologyChanged += _ => Interlocked.Increment(ref changes);
        try
        {
            Assert.True(await d.WaitForPrimaryAsync(TimeSpan.FromSeconds(10)));
            var old = await RedisLabFixture.ActualMasterAsync();
            await d.ExecuteWriteAsync((db, _) => db.StringSetAsync("t:crash:before", "1"));
            Assert.Empty(failovers); // the first primary found at start-up is no failover
            var version = d.Topology.Version;
            var changesBefore = Volatile.Read(ref changes);
            await RedisLabFixture.RunAsync("redis crash-master", TimeSpan.FromSeconds(30));
            var sw = Stopwatch.StartNew();
            var port = await WriteUntilAsync(d, p => p != old, Generous);
            Assert.NotEqual(old, port);
            Assert.Equal("master", await RedisLabFixture.RoleAsync(port));
            Assert.True(sw.Elapsed < Generous, $"writes resumed after {sw.Elapsed}");
            Assert.Equal($"127.0.0.1:{port}", d.CurrentPrimary);
            Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(failovers.Contains($"127.0.0.1:{port}")), TimeSpan.FromSeconds(5)), $"no haclient.failover span for the new primary: [{string.Join(", ", failovers)}]");
            Assert.True(d.Topology.Version > version, "the topology version moves on with the failover");
            Assert.True(Volatile.Read(ref changes) > changesBefore, "TopologyChanged is raised");
        }
        finally
        {
            await RedisLabFixture.RestoreAsync();
        }
    }

    [Fact]
    public async Task HangPrimaryNoCallOutlivesItsBudget()
    {
        var budget = TimeSpan.FromSeconds(1);
        var margin = TimeSpan.FromSeconds(2); // generous: 2 cores under load stretch timers by hundreds of ms (the drills saw ~500 ms)
        await using var d = RedisDeployment.Create(RedisLabFixture.SentinelOptions(budget));
        try
        {
            Assert.True(await d.WaitForPrimaryAsync(TimeSpan.FromSeconds(10)));
            var old = await RedisLabFixture.ActualMasterAsync();
            await RedisLabFixture.RunAsync("redis hang-master", TimeSpan.FromSeconds(30));
            var deadline = Stopwatch.StartNew();
            var worst = TimeSpan.Zero;
            int? newMaster = null;
            var i = 0;
            while (deadline.Elapsed < Generous && newMaster is null)
            {
                var call = Stopwatch.StartNew();
                try
                {
                    var port = await d.ExecuteWriteAsync(async (db, _) =>
                    {
                        await db.StringSetAsync("t:hang:" + i++, "x");
                        return RedisLabFixture.Port(db);
                    });
                    if (port != old)
                    {
                        newMaster = port;
                    }
                }
                catch (HaClientException)
                {
                }

                worst = call.Elapsed > worst ? call.Elapsed : worst;
                Assert.True(call.Elapsed < budget + margin, $"a call took {call.Elapsed.TotalMilliseconds:0} ms (budget {budget.TotalMilliseconds} ms)");
            }

            if (newMaster is null)
            {
                var status = await RedisLabFixture.RunAsync("redis status", TimeSpan.FromSeconds(30));
                Assert.Fail($"no write on a new master within {Generous}; client master {d.CurrentPrimary}; topology {string.Join(", ", d.Topology.Nodes)}; lab:\n{status}");
            }

            Assert.Equal("master", await RedisLabFixture.RoleAsync(newMaster.Value));
        }
        finally
        {
            await RedisLabFixture.RunAsync("redis resume", TimeSpan.FromSeconds(30));
            await RedisLabFixture.RestoreAsync();
        }
    }

    [Fact]
    public async Task ManualFailoverIsFollowed()
    {
        await using var d = RedisDeployment.Create(RedisLabFixture.SentinelOptions());
        try
        {
            Assert.True(await d.WaitForPrimaryAsync(TimeSpan.FromSeconds(10)));
            var old = await RedisLabFixture.ActualMasterAsync();
            await RedisLabFixture.RunAsync("redis failover", TimeSpan.FromSeconds(60));
            var port = await WriteUntilAsync(d, p => p != old, Generous);
            Assert.Equal("master", await RedisLabFixture.RoleAsync(port));
            Assert.Equal($"127.0.0.1:{port}", d.CurrentPrimary);
        }
        finally
        {
            await RedisLabFixture.RestoreAsync();
        }
    }

    [Fact]
    public async Task DiscoveryWorksWithOneSentinelKilled()
    {
        try
        {
            await RedisLabFixture.RunAsync("redis kill-sentinel", TimeSpan.FromSeconds(30));
            await using var d = RedisDeployment.Create(RedisLabFixture.SentinelOptions());
            Assert.True(await d.WaitForPrimaryAsync(TimeSpan.FromSeconds(10)));
            Assert.Equal($"127.0.0.1:{await RedisLabFixture.ActualMasterAsync()}", d.CurrentPrimary);
            await d.ExecuteWriteAsync((db, _) => db.StringSetAsync("t:sentinel", "1"));
        }
        finally
        {
            await RedisLabFixture.RestoreAsync();
        }
    }

    [Fact]
    public async Task SessionStoreKeepsSessionsAcrossAFailover()
    {
        var services = new ServiceCollection();
        services.AddHaRedisSessionStore(o =>
        {
            o.Sentinels = RedisLabFixture.Sentinels.ToList();
            o.ServiceName = "haclient";
            o.WaitReplicas = 1;
            o.Resilience.OperationTimeout = TimeSpan.FromSeconds(2);
        });
        await using var sp = services.BuildServiceProvider();
        var cache = sp.GetRequiredService<IDistributedCache>();
        Assert.IsType<HaRedisCache>(cache);
        Assert.True(await sp.GetRequiredService<RedisDeployment>().WaitForPrimaryAsync(TimeSpan.FromSeconds(10)));
        var prefix = "t:sess:" + Guid.NewGuid().ToString("N")[..8] + ":";
        var entry = new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(20) };
        try
        {
            for (var i = 0; i < 50; i++)
            {
                await cache.SetAsync(prefix + i, [(byte)i, 42], entry);
            }

            await RedisLabFixture.RunAsync("redis crash-master", TimeSpan.FromSeconds(30));

            // During the failover window reads are served by replicas: no session is reset.
            for (var i = 0; i < 50; i++)
            {
                var v = await cache.GetAsync(prefix + i);
                if (v is null)
                {
                    var d = sp.GetRequiredService<RedisDeployment>();
                    var t = d.Topology;
                    var diag = string.Join("; ", t.Nodes.Select((n, j) => $"{n.Endpoint} {n.Role} of {n.ReplicaOf} lag={t.GetLagBytes(j)}"));
                    var on = await d.ExecuteReadAsync(async (db, _) => $"{RedisLabFixture.Port(db)}:{await db.KeyExistsAsync("haclient:session:" + prefix + i)}", RedisReadPreference.PrimaryPreferred);
                    Assert.Fail($"session {i} missing during the failover window; primary {d.CurrentPrimary}; {diag}; read on {on}");
                }
                Assert.Equal((byte)i, v[0]);
            }

            // After the failover, sessions are still there and writable on the new master.
            await WaitUntilAsync(async () =>
            {
                try
                {
                    await cache.RefreshAsync(prefix + "0");
                    return true;
                }
                catch (HaClientException)
                {
                    return false;
                }
            }, Generous);
            for (var i = 0; i < 50; i++)
            {
                Assert.NotNull(await cache.GetAsync(prefix + i));
            }
        }
        finally
        {
            await RedisLabFixture.RestoreAsync();
        }
    }

    [Fact]
    public async Task AWriteThatLeavesOutItsDurabilityWaitsForTheConfiguredReplicas()
    {
        // The settings alone ask for three replicas (two exist): a plain ExecuteWriteAsync must run WAIT and say so.
        // Failed on the old code: the parameter defaulted to default(WriteDurability), (0, 0), the same as None, so
        // every write that left it out skipped WAIT.
        var o = RedisLabFixture.SentinelOptions();
        o.WaitReplicas = 3;
        o.WaitTimeout = TimeSpan.FromMilliseconds(200);
        await using var d = RedisDeployment.Create(o);
        Assert.True(await d.WaitForPrimaryAsync(TimeSpan.FromSeconds(10)));
        var ex = await Assert.ThrowsAsync<ReplicationNotConfirmedException>(() => d.ExecuteWriteAsync((db, _) => db.StringSetAsync("t:durable-default", "1")));
        Assert.Equal(3, ex.Required);
        Assert.False(ex.IsSafeToRetry);

        // Asking for no durability still skips the wait.
        Assert.True(await d.ExecuteWriteAsync((db, _) => db.StringSetAsync("t:durable-default", "2"), WriteDurability.None));
    }

    [Fact]
    public async Task WithBothReplicasFrozenAPlainWriteThrowsReplicationNotConfirmedWithinTheBudget()
    {
        // WaitReplicas = 1 and both replicas frozen (SIGSTOP): WAIT 1 gets no acknowledgement, and a plain
        // ExecuteWriteAsync (durability left out) must say so within the budget. Failed on the old code: the left-out
        // durability was default(WriteDurability), (0, 0), so the write skipped WAIT and was acknowledged.
        var budget = TimeSpan.FromSeconds(2);
        var o = RedisLabFixture.SentinelOptions(budget);
        o.WaitReplicas = 1;
        o.WaitTimeout = TimeSpan.FromMilliseconds(500);
        await using var d = RedisDeployment.Create(o);
        Assert.True(await d.WaitForPrimaryAsync(TimeSpan.FromSeconds(10)));
        Assert.True(await Lab.EventuallyAsync(
            async () => (long)await d.ExecuteWriteAsync((db, _) => db.ExecuteAsync("WAIT", 2, 200), WriteDurability.None) == 2,
            TimeSpan.FromSeconds(30), pollMs: 200), "both replicas acknowledge");
        Assert.True(await d.ExecuteWriteAsync((db, _) => db.StringSetAsync("t:frozen-replicas", "0")));
        try
        {
            await RedisLabFixture.RunAsync("redis hang-replicas", TimeSpan.FromSeconds(30));
            var started = Stopwatch.GetTimestamp();
            var ex = await Assert.ThrowsAsync<ReplicationNotConfirmedException>(() => d.ExecuteWriteAsync((db, _) => db.StringSetAsync("t:frozen-replicas", "1")));
            var took = Stopwatch.GetElapsedTime(started);
            Assert.Equal(1, ex.Required);
            Assert.Equal(0, ex.Acknowledged);
            Assert.InRange(took, o.WaitTimeout - TimeSpan.FromMilliseconds(50), budget);

            // The write was applied on the primary: only its replication is unconfirmed.
            Assert.Equal("1", (string?)await d.ExecuteReadAsync((db, _) => db.StringGetAsync("t:frozen-replicas"), RedisReadPreference.Primary));
        }
        finally
        {
            await RedisLabFixture.RunAsync("redis resume", TimeSpan.FromSeconds(30));
            await RedisLabFixture.RestoreAsync();
        }
    }

    [Fact]
    public async Task ASessionWriteThatCannotBeStoredThrows()
    {
        await using var d = RedisDeployment.Create(RedisLabFixture.SentinelOptions());
        Assert.True(await d.WaitForPrimaryAsync(TimeSpan.FromSeconds(10)));

        // Three replicas required, two exist: WAIT cannot be satisfied, and the caller is told. (Both replicas must
        // acknowledge first: right after an earlier test's failover one may still be resyncing, and WAIT counts only
        // replicas that have the write.)
        Assert.True(await Lab.EventuallyAsync(
            async () => (long)await d.ExecuteWriteAsync((db, _) => db.ExecuteAsync("WAIT", 2, 200), WriteDurability.None) == 2,
            TimeSpan.FromSeconds(30), pollMs: 200), "both replicas acknowledge");
        var cache = new HaRedisCache(d, new HaRedisCacheOptions { WaitReplicas = 3, WaitTimeout = TimeSpan.FromMilliseconds(200) });
        var ex = await Assert.ThrowsAsync<ReplicationNotConfirmedException>(() => cache.SetAsync("t:nostore", [1], new DistributedCacheEntryOptions()));
        Assert.Equal(2, ex.Acknowledged);

        // No master reachable at all: the write throws, it is not dropped.
        await using var none = RedisDeployment.Create(new RedisOptions { Endpoints = { "127.0.0.1:1" }, Resilience = { OperationTimeout = TimeSpan.FromMilliseconds(600) }, WaitTimeout = TimeSpan.FromMilliseconds(100) });
        var orphan = new HaRedisCache(none);
        await Assert.ThrowsAsync<NoEligibleEndpointException>(() => orphan.SetAsync("t:nostore", [1], new DistributedCacheEntryOptions()));
        Assert.Throws<InvalidOperationException>(() => cache.Set("t:sync", [1], new DistributedCacheEntryOptions()));
    }

    [Fact]
    public async Task SlidingExpirationIsHonouredWithoutWritesOnRead()
    {
        await using var d = RedisDeployment.Create(RedisLabFixture.SentinelOptions());
        Assert.True(await d.WaitForPrimaryAsync(TimeSpan.FromSeconds(10)));
        var cache = new HaRedisCache(d);
        var key = "t:slide:" + Guid.NewGuid();
        // A 4 s window with second-sized margins: a loaded 2-core CI machine stretches short delays.
        await cache.SetAsync(key, [7], new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromSeconds(4) });
        var ttl1 = await d.GetWriteDatabase().KeyTimeToLiveAsync("haclient:session:" + key);
        Assert.NotNull(await cache.GetAsync(key));
        var ttl2 = await d.GetWriteDatabase().KeyTimeToLiveAsync("haclient:session:" + key);
        Assert.True(ttl2 <= ttl1, "a read must not extend the TTL");
        await Task.Delay(1500);
        await cache.RefreshAsync(key); // more than a quarter of the window passed: the expiry moves to ~5.5 s
        await Task.Delay(3000);         // past the original expiry (4 s), ~1 s before the new one
        Assert.NotNull(await cache.GetAsync(key));
        Assert.True(
            await Lab.EventuallyAsync(async () => await cache.GetAsync(key) is null, TimeSpan.FromSeconds(15), pollMs: 200),
            "the entry never expired");
    }

    private static async Task<int> WriteUntilAsync(RedisDeployment d, Func<int, bool> accept, TimeSpan bound)
    {
        var sw = Stopwatch.StartNew();
        var i = 0;
        while (sw.Elapsed < bound)
        {
            try
            {
                var port = await d.ExecuteWriteAsync(async (db, _) =>
                {
                    await db.StringSetAsync("t:until:" + i++, "x");
                    return RedisLabFixture.Port(db);
                });
                if (accept(port))
                {
                    return port;
                }
            }
            catch (HaClientException)
            {
            }

            await Task.Delay(20);
        }

        throw new TimeoutException($"no acceptable write within {bound}; primary {d.CurrentPrimary}");
    }

    private static Task WaitUntilAsync(Func<bool> condition, TimeSpan bound) => WaitUntilAsync(() => Task.FromResult(condition()), bound);

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan bound)
    {
        var sw = Stopwatch.StartNew();
        while (!await condition())
        {
            if (sw.Elapsed > bound)
            {
                throw new TimeoutException($"condition not met within {bound}");
            }

            await Task.Delay(50);
        }
    }
}
