namespace HaClient.Redis;

/// <summary>One node's answer in a probe round: its own <c>CLUSTER SHARDS</c> view, or null when it did not answer.</summary>
internal readonly record struct ClusterAnswer(HostEndpoint Node, IReadOnlyList<ShardInfo>? Shards)
{
    /// <summary>The answering node's replication history, from the same script as its shards (one atomic answer).</summary>
    public ReplicationInfo History { get; init; } = ReplicationInfo.Unknown;
}

/// <summary>A shard as the answers of one round agree on it.</summary>
/// <param name="Ranges">Its slot ranges.</param>
/// <param name="Slots">The ranges as text.</param>
/// <param name="Primary">The verified primary, or null.</param>
/// <param name="Members">Every node any answer lists in the shard, the primary included.</param>
internal sealed record MergedShard((int Start, int End)[] Ranges, string Slots, HostEndpoint? Primary, IReadOnlyList<HostEndpoint> Members);

/// <summary>
/// Merges the nodes' <c>CLUSTER SHARDS</c> answers of one probe round into one view. Pure. A shard's primary is a node
/// that answered and names itself the primary of the shard's slots, online: a node that does not answer (crashed,
/// frozen) is never verified, however many others still name it, so a failover is seen the moment the promoted replica
/// says it owns the slots. When several answering nodes claim the same slots (a former primary just thawed, not yet told
/// of the new epoch), the one most answers name wins; a tie verifies none.
/// </summary>
internal static class ClusterView
{
    public static IReadOnlyList<MergedShard> Merge(IReadOnlyList<ClusterAnswer> answers)
    {
        var groups = new Dictionary<string, List<(HostEndpoint Self, ShardInfo Shard)>>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var answer in answers)
        {
            if (answer.Shards is null)
            {
                continue;
            }

            foreach (var shard in answer.Shards)
            {
                var key = shard.SlotText;
                if (!groups.TryGetValue(key, out var list))
                {
                    groups[key] = list = [];
                    order.Add(key);
                }

                list.Add((answer.Node, shard));
            }
        }

        var result = new List<MergedShard>(order.Count);
        foreach (var key in order)
        {
            var views = groups[key];
            var members = new List<HostEndpoint>();
            var claimers = new List<HostEndpoint>();
            foreach (var (self, shard) in views)
            {
                foreach (var n in shard.Nodes)
                {
                    if (!members.Contains(n.Endpoint))
                    {
                        members.Add(n.Endpoint);
                    }

                    if (n.Endpoint == self && n.IsPrimary && n.Health == "online" && !claimers.Contains(self))
                    {
                        claimers.Add(self);
                    }
                }
            }

            result.Add(new MergedShard([.. views[0].Shard.Slots], key, Choose(claimers, views), members));
        }

        return result;
    }

    private static HostEndpoint? Choose(List<HostEndpoint> claimers, List<(HostEndpoint Self, ShardInfo Shard)> views)
    {
        if (claimers.Count <= 1)
        {
            return claimers.Count == 1 ? claimers[0] : null;
        }

        HostEndpoint? best = null;
        int bestVotes = -1, tie = 0;
        foreach (var c in claimers)
        {
            var votes = views.Count(v => v.Shard.Nodes.Any(n => n.Endpoint == c && n.IsPrimary));
            if (votes > bestVotes)
            {
                (best, bestVotes, tie) = (c, votes, 0);
            }
            else if (votes == bestVotes)
            {
                tie++;
            }
        }

        return tie == 0 ? best : null;
    }

    /// <summary>The offset the answering node reports for itself in its own answer, or -1.</summary>
    public static long SelfOffset(ClusterAnswer answer)
    {
        if (answer.Shards is null)
        {
            return -1;
        }

        foreach (var shard in answer.Shards)
        {
            foreach (var n in shard.Nodes)
            {
                if (n.Endpoint == answer.Node)
                {
                    return n.ReplicationOffset;
                }
            }
        }

        return -1;
    }

    /// <summary>Whether <paramref name="answer"/> names its own node a primary.</summary>
    public static bool SelfIsPrimary(ClusterAnswer answer)
        => answer.Shards is { } shards && shards.Any(s => s.Nodes.Any(n => n.Endpoint == answer.Node && n.IsPrimary));
}
