using System.Runtime.CompilerServices;

namespace HaClient.Routing;

/// <summary>
/// The pure comparison every store's read router makes among eligible nodes: zone rank first (0 = the application's
/// zone), then a score that weighs the calls in flight against the node's recent response time,
/// <c>(inFlight + 1) × max(responseTime, <see cref="ResponseTimeFloorTicks"/>)</c>, so that a node twice as slow gets
/// about half the concurrent calls. Allocation-free.
/// </summary>
public static class ReadChoice
{
    /// <summary>The response time below which nodes count as equally fast (250 µs, in <see cref="TimeSpan"/> ticks): on a
    /// local network differences below it are noise, and nodes that close are told apart by their load alone. Also the
    /// time assumed for a node not measured yet.</summary>
    public const long ResponseTimeFloorTicks = 2_500;

    /// <summary>The rank of a node in the application's zone, or of every node when no local zone is set.</summary>
    public const int LocalRank = 0;

    /// <summary>The rank of a node in another zone, or in none.</summary>
    public const int RemoteRank = 1;

    /// <summary>The score of a node with <paramref name="inFlight"/> calls in flight and a smoothed response time of
    /// <paramref name="responseTicks"/> (<see cref="TimeSpan"/> ticks; 0 when not measured yet): lower is better.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Score(int inFlight, long responseTicks)
        => ((long)Math.Max(inFlight, 0) + 1) * Math.Max(responseTicks, ResponseTimeFloorTicks);

    /// <summary>The latency tier of a response time, for a store that does not count calls in flight: 0 below twice
    /// <see cref="ResponseTimeFloorTicks"/>, then one more for each doubling. Nodes in the same tier count as equally fast
    /// (they take turns), so noise does not herd every read onto one node; a node several times slower is avoided.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Tier(long responseTicks)
        => System.Numerics.BitOperations.Log2((ulong)(Math.Max(responseTicks, ResponseTimeFloorTicks) / ResponseTimeFloorTicks));

    /// <summary>Whether a node of <paramref name="rank"/> and <paramref name="score"/> is a better choice than the best so
    /// far: a lower zone rank, or the same rank and a lower score (a tie keeps the earlier one).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Beats(int rank, long score, int bestRank, long bestScore)
        => rank < bestRank || (rank == bestRank && score < bestScore);
}
