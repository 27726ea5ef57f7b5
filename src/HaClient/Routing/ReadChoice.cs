using System.Runtime.CompilerServices;

namespace HaClient.Routing;

/// <summary>
/// The pure comparison every store's read router makes among eligible nodes: zone rank first (0 = the application's
/// zone), then a score that weighs the calls in flight against the node's recent response time taken by its latency
/// tier, <c>(inFlight + 1) × <see cref="ResponseTimeFloorTicks"/> × 4^<see cref="Tier"/></c>: nodes of one tier are told
/// apart by their load alone (and take turns when that is equal too), so measurement noise never herds the reads onto
/// one node; a node a tier (4×) slower gets about a quarter of the concurrent calls, a browned-out one (tens of ms)
/// almost none.
/// Allocation-free.
/// </summary>
public static class ReadChoice
{
    /// <summary>The response time below which nodes count as equally fast (1 ms, in <see cref="TimeSpan"/> ticks): on a
    /// local network or a loaded client, differences below it are noise (a loopback probe takes 0.2-1 ms here), and
    /// nodes that close are told apart by their load alone. Also the time assumed for a node not measured yet.</summary>
    public const long ResponseTimeFloorTicks = 10_000;

    /// <summary>The rank of a node in the application's zone, or of every node when no local zone is set.</summary>
    public const int LocalRank = 0;

    /// <summary>The rank of a node in another zone, or in none.</summary>
    public const int RemoteRank = 1;

    /// <summary>The score of a node with <paramref name="inFlight"/> calls in flight and a smoothed response time of
    /// <paramref name="responseTicks"/> (<see cref="TimeSpan"/> ticks; 0 when not measured yet): lower is better.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Score(int inFlight, long responseTicks)
        => ((long)Math.Max(inFlight, 0) + 1) * (ResponseTimeFloorTicks << (int)(2 * Math.Min(Tier(responseTicks), 10)));

    /// <summary>The latency tier of a response time (what <see cref="Score"/> weighs, and all a store that does not
    /// count calls in flight compares): 0 below four times <see cref="ResponseTimeFloorTicks"/>, then one more for each
    /// fourfold. Coarse on purpose: response times are smoothed samples of a few round trips, and a replica that serves
    /// the reads is measured by them while the others only by their probes. Nodes in the same tier count as equally fast
    /// (they take turns), so noise does not herd every read onto one node; a node several times slower is avoided.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Tier(long responseTicks)
        => System.Numerics.BitOperations.Log2((ulong)(Math.Max(responseTicks, ResponseTimeFloorTicks) / ResponseTimeFloorTicks)) >> 1;

    /// <summary>Whether a node of <paramref name="rank"/> and <paramref name="score"/> is a better choice than the best so
    /// far: a lower zone rank, or the same rank and a lower score (a tie keeps the earlier one).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Beats(int rank, long score, int bestRank, long bestScore)
        => rank < bestRank || (rank == bestRank && score < bestScore);
}
