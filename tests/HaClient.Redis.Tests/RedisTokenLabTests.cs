using HaClient.Testing;
using StackExchange.Redis;

namespace HaClient.Redis.Tests;

/// <summary>Redis read-your-writes tokens against the Sentinel lab: token reads never stale, replicas serve them once
/// they prove it, a failover sends old-history tokens to the new primary, and a foreign token is ignored.</summary>
[Collection("RedisLab")]
[Trait("Category", "Lab")]
public sealed class RedisTokenLabTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(20);

    private static RedisOptions Options()
    {
        var o = RedisLabFixture.SentinelOptions();
        o.ProbeInterval = TimeSpan.FromMilliseconds(100); // replicas prove tokens soon after a write
        return o;
    }

    private static Task<RedisWriteResult<long>> IncrementAsync(RedisDeployment d, string key)
        => d.ExecuteWriteWithTokenAsync((db, _) => db.StringIncrementAsync(key), WriteDurability.None);

    private static Task<(int Port, long Value)> ReadAsync(RedisDeployment d, string key, RedisConsistencyToken after)
        => d.ExecuteReadAfterAsync(async (db, _) => (RedisLabFixture.Port(db), (long)await db.StringGetAsync(key)), after);

    [Fact]
    public async Task TokenReadsNeverSeeAnOlderValueAndReplicasServeThemOnceTheyProveIt()
    {
        await using var d = RedisDeployment.Create(Options());
        Assert.True(await d.WaitForPrimaryAsync(Generous));
        var key = $"t:ryw:{Guid.NewGuid():N}";
        var tokens = new List<(long Value, RedisConsistencyToken Token)>();
        int stale = 0, replicaReads = 0;
        var primary = RedisLabFixture.Port(d.GetWriteDatabase());
        for (var i = 0; i < 300; i++)
        {
            var w = await IncrementAsync(d, key);
            Assert.False(w.Token.IsEmpty);
            Assert.True(RedisConsistencyToken.TryParse(w.Token.ToString(), out var carried)); // as it travels between requests
            tokens.Add((w.Value, carried));

            // The latest token, and one from ~20 writes ago (old enough for a replica to have proved it).
            foreach (var (value, token) in new[] { tokens[^1], tokens[Math.Max(0, tokens.Count - 20)] })
            {
                var (port, seen) = await ReadAsync(d, key, token);
                if (seen < value)
                {
                    stale++;
                }

                if (port != primary)
                {
                    replicaReads++;
                }
            }

            await Task.Delay(5);
        }

        Assert.Equal(0, stale);
        Assert.True(replicaReads > 0, "no token read was ever served by a replica");

        // The last token, once both replicas have caught up: a replica serves it and sees the last value.
        var last = tokens[^1];
        Assert.True(await Lab.EventuallyAsync(async () =>
        {
            var (port, seen) = await ReadAsync(d, key, last.Token);
            Assert.True(seen >= last.Value);
            return port != primary;
        }, Generous));
    }

    [Fact]
    public async Task AfterAFailoverATokenOfTheOldHistoryIsAnsweredByTheNewPrimary()
    {
        await using var d = RedisDeployment.Create(Options());
        try
        {
            Assert.True(await d.WaitForPrimaryAsync(Generous));
            var key = $"t:ryw:{Guid.NewGuid():N}";
            var before = await d.ExecuteWriteWithTokenAsync((db, _) => db.StringIncrementAsync(key), new WriteDurability(2, TimeSpan.FromSeconds(2)));
            var old = RedisLabFixture.Port(d.GetWriteDatabase());
            await RedisLabFixture.RunAsync("redis failover", TimeSpan.FromSeconds(60));
            Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(d.CurrentPrimary is { } p && p != $"127.0.0.1:{old}"), Generous), "the client never followed the failover");
            var now = int.Parse(d.CurrentPrimary!.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);

            // For seconds after the failover (the replicas resynchronise onto the new history meanwhile), the old
            // token is only ever answered by the new primary, and sees the write.
            for (var i = 0; i < 40; i++)
            {
                var (port, seen) = await ReadAsync(d, key, before.Token);
                Assert.Equal(1, seen);
                Assert.Equal(now, port);
                await Task.Delay(50);
            }

            // A write on the new history carries the new primary's ID, and replicas serve it again once they prove it.
            var after = await IncrementAsync(d, key);
            Assert.NotEqual(before.Token.ReplicationId, after.Token.ReplicationId);
            Assert.True(await Lab.EventuallyAsync(async () =>
            {
                var (port, seen) = await ReadAsync(d, key, after.Token);
                Assert.Equal(2, seen);
                return port != now;
            }, Generous), "no replica ever proved the new history's token");
        }
        finally
        {
            await RedisLabFixture.RestoreAsync();
        }
    }

    [Fact]
    public async Task AForgedOrForeignTokenIsIgnoredNotPinnedToThePrimary()
    {
        await using var d = RedisDeployment.Create(Options());
        Assert.True(await d.WaitForPrimaryAsync(Generous));
        var key = $"t:ryw:{Guid.NewGuid():N}";
        await d.ExecuteWriteAsync((db, _) => db.StringSetAsync(key, 7), new WriteDurability(2, TimeSpan.FromSeconds(2)));
        var primary = RedisLabFixture.Port(d.GetWriteDatabase());
        var foreign = RedisConsistencyToken.Parse($"{new string('f', 40)}:{long.MaxValue}");
        Assert.True(await Lab.EventuallyAsync(async () => (await ReadAsync(d, key, foreign)).Port != primary, Generous),
            "a token of no known history pinned the reads to the primary");
    }

    [Fact]
    public async Task ATokenBeyondThePrimarysOffsetIsCappedOnceAProbeBeganAfterTheRequest()
    {
        await using var d = RedisDeployment.Create(Options());
        Assert.True(await d.WaitForPrimaryAsync(Generous));
        var key = $"t:ryw-cap:{Guid.NewGuid():N}";
        var real = (await IncrementAsync(d, key)).Token;
        var forged = new RedisConsistencyToken(real.ReplicationId!, long.MaxValue);
        // A request that began after every probe so far (an hour from now, so that no probe can begin in between: with
        // "now" a probe that began in the microseconds before the call capped it at once, CI on 2dcd093): the token
        // stands, and a fresh probe is asked for.
        var future = d.TimeProvider.GetTimestamp() + (d.TimeProvider.TimestampFrequency * 3600);
        Assert.Equal(forged, d.CapToken(forged, future));

        var started = d.TimeProvider.GetTimestamp();

        var capped = forged;
        Assert.True(await Lab.EventuallyAsync(() =>
        {
            capped = d.CapToken(forged, started);
            return Task.FromResult(capped.Offset != long.MaxValue);
        }, Generous), "the forged token was never capped");
        Assert.Equal(real.ReplicationId, capped.ReplicationId);
        Assert.True(capped.Offset >= real.Offset, $"capped to {capped.Offset}, below the real write's {real.Offset}");

        // A write after that probe: its token stands.
        var later = (await IncrementAsync(d, key)).Token;
        Assert.Equal(later, d.CapToken(later, d.TimeProvider.GetTimestamp()));

        // A token of another deployment's history is dropped.
        Assert.True(d.CapToken(new RedisConsistencyToken(new string('e', 40), 5), started).IsEmpty);
    }
}
