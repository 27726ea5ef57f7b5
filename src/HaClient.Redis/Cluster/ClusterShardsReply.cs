using StackExchange.Redis;

namespace HaClient.Redis;

/// <summary>One node of a shard as a <c>CLUSTER SHARDS</c> reply lists it.</summary>
internal readonly record struct ShardNodeInfo(string Id, HostEndpoint Endpoint, bool IsPrimary, long ReplicationOffset, string Health);

/// <summary>One shard of a <c>CLUSTER SHARDS</c> reply: its slot ranges (inclusive, in the reply's order) and nodes.</summary>
internal sealed record ShardInfo(IReadOnlyList<(int Start, int End)> Slots, IReadOnlyList<ShardNodeInfo> Nodes)
{
    /// <summary>The slot ranges as text (<c>0-5460</c>, <c>0-99,200-5460</c>): the shard's name in health and metrics.</summary>
    public string SlotText => string.Join(',', Slots.Select(r => r.Start == r.End ? $"{r.Start}" : $"{r.Start}-{r.End}"));
}

/// <summary>Parses a <c>CLUSTER SHARDS</c> reply (Redis 7.0+; RESP2 flat key/value arrays or RESP3 maps). Pure.</summary>
internal static class ClusterShardsReply
{
    /// <summary>The shards in <paramref name="reply"/>; shards without slots (a node that owns none yet) are left out.
    /// <paramref name="tls"/> picks each node's <c>tls-port</c> when it lists one.</summary>
    /// <exception cref="FormatException">The reply is not a <c>CLUSTER SHARDS</c> reply.</exception>
    public static IReadOnlyList<ShardInfo> Parse(RedisResult reply, bool tls)
    {
        if (reply.Resp2Type != ResultType.Array || reply.IsNull)
        {
            throw new FormatException("CLUSTER SHARDS: expected an array of shards.");
        }

        var result = new List<ShardInfo>();
        foreach (var shard in (RedisResult[])reply!)
        {
            var slots = new List<(int, int)>();
            var nodes = new List<ShardNodeInfo>();
            foreach (var (key, value) in Pairs(shard))
            {
                if (key == "slots")
                {
                    var bounds = (RedisResult[])value!;
                    for (var i = 0; i + 1 < bounds.Length; i += 2)
                    {
                        slots.Add(((int)bounds[i], (int)bounds[i + 1]));
                    }
                }
                else if (key == "nodes")
                {
                    foreach (var node in (RedisResult[])value!)
                    {
                        nodes.Add(ParseNode(node, tls));
                    }
                }
            }

            if (slots.Count > 0)
            {
                result.Add(new ShardInfo(slots, nodes));
            }
        }

        return result;
    }

    private static ShardNodeInfo ParseNode(RedisResult node, bool tls)
    {
        string id = "", ip = "", endpoint = "", role = "", health = "";
        int port = 0, tlsPort = 0;
        long offset = -1;
        foreach (var (key, value) in Pairs(node))
        {
            switch (key)
            {
                case "id": id = (string?)value ?? ""; break;
                case "ip": ip = (string?)value ?? ""; break;
                case "endpoint": endpoint = (string?)value ?? ""; break;
                case "port": port = (int)value; break;
                case "tls-port": tlsPort = (int)value; break;
                case "role": role = (string?)value ?? ""; break;
                case "replication-offset": offset = (long)value; break;
                case "health": health = (string?)value ?? ""; break;
            }
        }

        // 'endpoint' is the address clients should use (cluster-preferred-endpoint-type); '?' or empty when unknown.
        var host = endpoint is { Length: > 0 } and not "?" ? endpoint : ip;
        if (host.Length == 0 || (port == 0 && tlsPort == 0))
        {
            throw new FormatException("CLUSTER SHARDS: a node without an address.");
        }

        return new ShardNodeInfo(id, new HostEndpoint(host, tls && tlsPort > 0 ? tlsPort : port), role == "master", offset, health);
    }

    private static IEnumerable<(string Key, RedisResult Value)> Pairs(RedisResult map)
    {
        var items = (RedisResult[])map!;
        for (var i = 0; i + 1 < items.Length; i += 2)
        {
            yield return ((string?)items[i] ?? "", items[i + 1]);
        }
    }
}
