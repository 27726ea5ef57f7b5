namespace HaClient.Redis.Tests.Unit;

/// <summary>Hand-made probe results for the pure election and routing tests (no server).</summary>
internal static class States
{
    public static HostEndpoint Ep(int i) => new("127.0.0.1", 16379 + i);

    public static RedisNodeState Primary(int i, long offset, HostEndpoint? promotedFrom = null, params int[] replicas)
        => new(Ep(i), RedisNodeRole.Primary, offset, null, null, 1, default, TimeSpan.Zero, null)
        {
            PromotedFrom = promotedFrom,
            Replicas = replicas.Select(Ep).ToArray(),
        };

    public static RedisNodeState Replica(int i, long offset, int of, string link = "connected")
        => new(Ep(i), RedisNodeRole.Replica, offset, Ep(of), link, 1, default, TimeSpan.Zero, null);

    public static RedisNodeState Down(int i) => new(Ep(i), RedisNodeRole.Down, -1, null, null, 1, default, TimeSpan.Zero, "RedisTimeoutException");

    public static SentinelVotes Votes(params (int Node, int Votes)[] named)
        => new(named.Sum(n => n.Votes), named.OrderByDescending(n => n.Votes).Select(n => (Ep(n.Node), n.Votes)).ToArray());
}
