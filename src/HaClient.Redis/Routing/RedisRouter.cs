using HaClient.Routing;

namespace HaClient.Redis;

/// <summary>
/// The routing decision: which node serves a request, from the monitor's latest published <see cref="RedisTopology"/>.
/// Pure and allocation-free: it reads the topology's states and the nodes' connection and circuit, and returns an index.
/// </summary>
internal static class RedisRouter
{
    /// <summary>The primary's index when one is verified, connected and its circuit lets calls through; otherwise -1.</summary>
    public static int SelectPrimary(RedisTopology topology)
    {
        var i = topology.PrimaryIndex;
        return i >= 0 && topology.States[i].Role == RedisNodeRole.Primary && IsUsable(topology.Links[i]) ? i : -1;
    }

    /// <summary>
    /// The index of the node for a read, never <paramref name="exclude"/>: the primary for
    /// <see cref="RedisReadPreference.Primary"/> (and first for <see cref="RedisReadPreference.PrimaryPreferred"/>);
    /// otherwise a replica that replicates from the reference primary (the verified one, else the last one) and is within
    /// <paramref name="maxLagBytes"/> of its last probed offset: of the best zone rank (local first; only local ones when
    /// <paramref name="localOnly"/>), then of the lowest latency tier (<see cref="ReadChoice.Tier"/>: nodes within a factor of 4 take turns from
    /// <paramref name="rotation"/>); else the primary when <paramref name="fallbackToPrimary"/> (under
    /// <paramref name="localOnly"/>, only a local one); else -1.
    /// </summary>
    public static int SelectReader(RedisTopology topology, RedisReadPreference preference, long maxLagBytes, bool fallbackToPrimary, int exclude, int rotation, bool localOnly = false)
    {
        var primary = SelectPrimary(topology);
        if (primary == exclude)
        {
            primary = -1;
        }

        if (preference == RedisReadPreference.Primary || (preference == RedisReadPreference.PrimaryPreferred && primary >= 0))
        {
            return primary;
        }

        var best = -1;
        var bestRank = int.MaxValue;
        var bestScore = long.MaxValue;
        var reference = topology.ReferenceIndex;
        var referenceOffset = topology.ReferenceOffset;
        if (reference >= 0 && referenceOffset >= 0)
        {
            var states = topology.States;
            var referenceEndpoint = states[reference].Endpoint;
            var n = states.Length;
            for (var k = 0; k < n; k++)
            {
                var i = (int)((uint)(k + rotation) % (uint)n);
                var s = states[i];

                // A replica of another node (still following an old primary, or already reconfigured to follow a new one
                // it has not synchronised with) holds another history: its offset says nothing against this primary's.
                if (i == exclude || i == reference || s.Role != RedisNodeRole.Replica || s.ReplicationOffset < 0
                    || s.ReplicaOf != referenceEndpoint || referenceOffset - s.ReplicationOffset > maxLagBytes
                    || !IsUsable(topology.Links[i]))
                {
                    continue;
                }

                var node = topology.Links[i];
                if (localOnly && node.ZoneRank != ReadChoice.LocalRank)
                {
                    continue;
                }

                var score = ReadChoice.Tier(Volatile.Read(ref node.ResponseTicks));
                if (ReadChoice.Beats(node.ZoneRank, score, bestRank, bestScore))
                {
                    best = i;
                    bestRank = node.ZoneRank;
                    bestScore = score;
                }
            }
        }

        if (best >= 0)
        {
            return best;
        }

        if (localOnly && primary >= 0 && topology.Links[primary].ZoneRank != ReadChoice.LocalRank)
        {
            return -1;
        }

        return fallbackToPrimary ? primary : -1;
    }

    /// <summary>
    /// The index of the node for a read that must see <paramref name="after"/> (a token some node knows), never
    /// <paramref name="exclude"/>: the primary for <see cref="RedisReadPreference.Primary"/> (and first for
    /// <see cref="RedisReadPreference.PrimaryPreferred"/>); otherwise a replica of the reference primary, within
    /// <paramref name="maxLagBytes"/>, that proves it holds the write (<see cref="TokenRule.Proves"/>) while the
    /// reference primary is on the token's history, chosen as <see cref="SelectReader"/> chooses; else the primary
    /// (whatever <see cref="RedisOptions.FallbackToPrimary"/> says: it is the one node that holds every write); else -1.
    /// </summary>
    public static int SelectReaderAfter(RedisTopology topology, RedisReadPreference preference, in RedisConsistencyToken after, long maxLagBytes, int exclude, int rotation, bool localOnly = false)
    {
        var primary = SelectPrimary(topology);
        if (primary == exclude)
        {
            primary = -1;
        }

        if (preference == RedisReadPreference.Primary || (preference == RedisReadPreference.PrimaryPreferred && primary >= 0))
        {
            return primary;
        }

        var reference = topology.ReferenceIndex;
        var referenceOffset = topology.ReferenceOffset;
        var states = topology.States;
        if (reference < 0 || referenceOffset < 0 || !TokenRule.IsCurrentHistory(states[reference], after))
        {
            // An older history (a failover since the write): no replica can prove it holds the write.
            return primary;
        }

        var best = -1;
        var bestRank = int.MaxValue;
        var bestScore = long.MaxValue;
        var referenceEndpoint = states[reference].Endpoint;
        var n = states.Length;
        for (var k = 0; k < n; k++)
        {
            var i = (int)((uint)(k + rotation) % (uint)n);
            var s = states[i];
            if (i == exclude || i == reference || !TokenRule.Proves(s, after) || s.ReplicaOf != referenceEndpoint
                || s.ReplicationOffset < 0 || referenceOffset - s.ReplicationOffset > maxLagBytes || !IsUsable(topology.Links[i]))
            {
                continue;
            }

            var node = topology.Links[i];
            if (localOnly && node.ZoneRank != ReadChoice.LocalRank)
            {
                continue;
            }

            var score = ReadChoice.Tier(Volatile.Read(ref node.ResponseTicks));
            if (ReadChoice.Beats(node.ZoneRank, score, bestRank, bestScore))
            {
                best = i;
                bestRank = node.ZoneRank;
                bestScore = score;
            }
        }

        return best >= 0 ? best : primary;
    }

    private static bool IsUsable(RedisNode node) => node.Multiplexer is not null && node.Circuit.IsAvailable;
}
