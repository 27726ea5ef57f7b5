namespace HaClient.Postgres;

/// <summary>
/// The timeline each host was last seen on, so that a replica whose WAL receiver is not running (it shows no timeline,
/// 0) is still judged by the history it holds. A thawed old primary that Patroni restarts as a standby before it is
/// rewound has no receiver (the new primary's history refuses it) and holds WAL past the fork: taken as timeline 0 it
/// passed the router's timeline rule, and its replay position, compared with the new primary's, made it look current
/// (12 stale bounded reads in the 30-minute net soak, seed 1717, defect #50). It keeps the timeline it was primary on
/// until it streams on the new one. A replica that only reconnects (a restarted primary) keeps the timeline it streamed
/// on, which is the primary's, and goes on serving bounded reads.
/// </summary>
/// <remarks>
/// Used by the monitor under its lock. When no replica of the cluster has ever shown its receiver's timeline (the probing
/// role lacks <c>pg_read_all_stats</c>, so every replica shows 0), nothing is carried over: a host once seen as primary
/// would otherwise stay on its old timeline for good. The router's other bounds alone then apply, as documented.
/// </remarks>
internal sealed class KnownTimelines
{
    private readonly int[] _timelines;
    private bool _receiversVisible;

    public KnownTimelines(int hosts) => _timelines = new int[hosts];

    /// <summary>Records <paramref name="state"/>'s timeline for host <paramref name="index"/>, or, for a replica that shows
    /// none, returns it with the timeline the host was last seen on.</summary>
    public PostgresHostState Resolve(int index, PostgresHostState state)
    {
        if (state.Role is not (PostgresRole.Primary or PostgresRole.Replica))
        {
            return state;
        }

        if (state.Timeline != 0)
        {
            _timelines[index] = state.Timeline;
            _receiversVisible |= state.Role == PostgresRole.Replica;
            return state;
        }

        var known = _timelines[index];
        return state.Role == PostgresRole.Replica && _receiversVisible && known != 0 ? state.WithTimeline(known) : state;
    }
}
