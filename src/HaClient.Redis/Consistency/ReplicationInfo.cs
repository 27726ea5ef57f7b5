using System.Globalization;

namespace HaClient.Redis;

/// <summary>
/// The replication history of one node from its <c>INFO replication</c> answer: its replication ID, the previous one
/// (a promoted replica keeps its former primary's as <c>master_replid2</c>), and its offset on that history (a primary's
/// <c>master_repl_offset</c>, a replica's processed <c>slave_repl_offset</c>). One answer, so the ID and the offset go
/// together. Pure.
/// </summary>
internal readonly record struct ReplicationInfo(bool IsPrimary, string? ReplicationId, string? ReplicationId2, long Offset)
{
    /// <summary>Reads <c>INFO replication</c> inside a read-only script: StackExchange.Redis refuses <c>INFO</c> itself
    /// outside admin mode, and HaClient does not turn admin mode on for the application's connections.</summary>
    public const string Script = "return redis.call('INFO', 'replication')";

    /// <summary>The history of the node behind <paramref name="db"/>, asked now.</summary>
    public static async Task<ReplicationInfo> ReadAsync(StackExchange.Redis.IDatabase db)
        => Parse((string?)await db.ExecuteAsync("EVAL_RO", Script, 0).ConfigureAwait(false));

    /// <summary>Nothing known.</summary>
    public static readonly ReplicationInfo Unknown = new(false, null, null, -1);

    /// <summary>The history of <paramref name="info"/> (the text of <c>INFO replication</c>); <see cref="Unknown"/>
    /// fields where a line is missing or malformed.</summary>
    public static ReplicationInfo Parse(string? info)
    {
        if (string.IsNullOrEmpty(info))
        {
            return Unknown;
        }

        string? role = null, id = null, id2 = null;
        long primaryOffset = -1, replicaOffset = -1;
        foreach (var raw in info.AsSpan().EnumerateLines())
        {
            var line = raw.Trim();
            var colon = line.IndexOf(':');
            if (colon <= 0)
            {
                continue;
            }

            var key = line[..colon];
            var value = line[(colon + 1)..];
            if (key.SequenceEqual("role"))
            {
                role = value.ToString();
            }
            else if (key.SequenceEqual("master_replid"))
            {
                id = Id(value);
            }
            else if (key.SequenceEqual("master_replid2"))
            {
                id2 = Id(value);
            }
            else if (key.SequenceEqual("master_repl_offset"))
            {
                primaryOffset = Number(value);
            }
            else if (key.SequenceEqual("slave_repl_offset"))
            {
                replicaOffset = Number(value);
            }
        }

        var isPrimary = role == "master";
        return new ReplicationInfo(isPrimary, id, id2 is null || id2.AsSpan().IndexOfAnyExcept('0') < 0 ? null : id2, isPrimary ? primaryOffset : replicaOffset);
    }

    /// <summary>The token of a primary's answer: its ID and offset; the empty token when it is no primary or the answer
    /// lacks them.</summary>
    public RedisConsistencyToken ToToken() => IsPrimary && ReplicationId is { } id && Offset >= 0 ? new RedisConsistencyToken(id, Offset) : default;

    private static string? Id(ReadOnlySpan<char> value)
    {
        var text = value.ToString();
        return RedisConsistencyToken.IsReplicationId(text) ? text.ToLowerInvariant() : null;
    }

    private static long Number(ReadOnlySpan<char> value)
        => long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : -1;
}
