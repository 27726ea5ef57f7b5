using HaClient.Testing;

namespace HaClient.Redis.Tests;

/// <summary>Redis read-your-writes tokens on the lab's cluster: per shard, token reads never stale and served by the
/// shard's replica once it proves the write; another shard's token is ignored.</summary>
[Collection("RedisClusterLab")]
[Trait("Category", "Lab")]
public sealed class RedisClusterTokenTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task TokenReadsNeverStaleOnEveryShard()
    {
        var options = ClusterLabFixture.Options();
        options.ProbeInterval = TimeSpan.FromMilliseconds(100);
        await using var d = RedisDeployment.Create(options);
        Assert.True(await d.WaitForPrimaryAsync(Generous));
        for (var shard = 0; shard < 3; shard++)
        {
            var key = ClusterLabFixture.KeyOf(shard, "t:ryw:");
            var primary = await ClusterLabFixture.OwnerAsync(ClusterLabFixture.FirstSlots[shard]);
            int stale = 0, replicaReads = 0;
            var tokens = new List<(long Value, RedisConsistencyToken Token)>();
            for (var i = 0; i < 120; i++)
            {
                var w = await d.ExecuteKeyWriteWithTokenAsync(key, (db, _) => db.StringIncrementAsync(key), WriteDurability.None);
                tokens.Add((w.Value, RedisConsistencyToken.Parse(w.Token.ToString())));
                foreach (var (value, token) in new[] { tokens[^1], tokens[Math.Max(0, tokens.Count - 20)] })
                {
                    var (port, seen) = await d.ExecuteKeyReadAfterAsync(key, async (db, _) => (ClusterLabFixture.Port(db), (long)await db.StringGetAsync(key)), token);
                    stale += seen < value ? 1 : 0;
                    replicaReads += port != primary ? 1 : 0;
                }

                await Task.Delay(5);
            }

            Assert.Equal(0, stale);
            Assert.True(replicaReads > 0, $"shard {shard}: no token read was served by its replica");

            // Another shard's token (its history is unknown to this shard): ignored, a plain read.
            var otherKey = ClusterLabFixture.KeyOf((shard + 1) % 3, "t:ryw:");
            var other = await d.ExecuteKeyWriteWithTokenAsync(otherKey, (db, _) => db.StringSetAsync(otherKey, "x"), WriteDurability.None);
            Assert.NotEqual(tokens[^1].Token.ReplicationId, other.Token.ReplicationId);
            var pinned = new RedisConsistencyToken(other.Token.ReplicationId!, long.MaxValue);
            Assert.True(await Lab.EventuallyAsync(async () => await d.ExecuteKeyReadAfterAsync(key, (db, _) => Task.FromResult(ClusterLabFixture.Port(db)), pinned) != primary, Generous),
                $"shard {shard}: another shard's token pinned its reads to the primary");
        }
    }
}
