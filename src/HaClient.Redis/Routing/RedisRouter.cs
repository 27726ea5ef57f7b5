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
    /// otherwise a replica, taken in turn from <paramref name="rotation"/>, that replicates from the reference primary
    /// (the verified one, else the last one) and is within <paramref name="maxLagBytes"/> of its last probed offset; else
    /// the primary when <paramref name="fallbackToPrimary"/>; else -1.
    /// </summary>
    public static int SelectReader(RedisTopology topology, RedisReadPreference preference, long maxLagBytes, bool fallbackToPrimary, int exclude, int rotation)
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

                return i;
            }
        }

        return fallbackToPrimary ? primary : -1;
    }

    private static bool IsUsable(RedisNode node) => node.Multiplexer is not null && node.Circuit.IsAvailable;
}
