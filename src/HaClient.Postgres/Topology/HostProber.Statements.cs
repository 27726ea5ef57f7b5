using Npgsql;

namespace HaClient.Postgres;

/// <summary>What the probe asks a server: once per probe connection its facts (system identifier, whether its last
/// checkpoint's timeline is readable), then every probe its role, timeline, WAL position and replay lag.</summary>
internal sealed partial class HostProber
{
    // One round trip: role, timeline, WAL position and replay lag. A replica's lag is 0 only while its WAL receiver is
    // streaming and has replayed everything received; otherwise (cut off from the primary, reconnecting after a
    // switchover, replay behind) it is the time since the last replayed transaction: everything acknowledged after
    // that moment may be missing there. Reading the receiver's status needs pg_read_all_stats (pg_monitor) or superuser;
    // without it a replica is taken as not streaming, which is conservative.
    //
    // A replica's timeline is its WAL receiver's. A replica with no receiver (not streaming: a thawed old primary that
    // Patroni restarted as a standby before rewinding it, whose receiver the new primary's history refuses) has none;
    // its last checkpoint's timeline stands in, so it is never taken as being on the primary's timeline while it holds
    // WAL past the fork (a timeline of 0 let the router's timeline rule pass it: 12 stale bounded reads in the
    // 30-minute net soak, seed 1717, #50). A legitimate replica not streaming may show an older checkpoint timeline for a
    // while: it serves no bounded read until it streams again, which is conservative.
    private const string ProbeSqlTemplate = """
        SELECT s.r,
               CASE WHEN s.r THEN {0}
                    ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END,
               CASE WHEN s.r THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END,
               CASE WHEN NOT s.r THEN NULL
                    WHEN w.status = 'streaming' AND pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0::float8
                    ELSE extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8 END
        FROM (SELECT pg_is_in_recovery() AS r) s
        LEFT JOIN pg_stat_wal_receiver w ON true
        """;

    /// <summary>The probe where <c>pg_control_checkpoint()</c> may be run (PostgreSQL grants it to PUBLIC).</summary>
    internal static readonly string ProbeSql = string.Format(System.Globalization.CultureInfo.InvariantCulture, ProbeSqlTemplate, "COALESCE(NULLIF(w.received_tli, 0), (SELECT timeline_id FROM pg_control_checkpoint()))");

    /// <summary>The probe where it may not (a refusal would fail the whole statement, so it is not even named).</summary>
    internal static readonly string ReceiverOnlyProbeSql = string.Format(System.Globalization.CultureInfo.InvariantCulture, ProbeSqlTemplate, "w.received_tli");

    /// <summary>The statement that reads a server's system identifier. <c>pg_control_system()</c> is executable by every
    /// role by default (PostgreSQL grants it to PUBLIC); a server that revoked it leaves the identifier unknown.</summary>
    internal const string SystemIdentifierSql = "SELECT system_identifier FROM pg_control_system()";

    /// <summary>Whether this role may read the last checkpoint's timeline (never fails: a privilege check).</summary>
    internal const string CheckpointTimelineSql = "SELECT has_function_privilege('pg_control_checkpoint()', 'EXECUTE')";

    /// <summary>Reads the server's facts on a new probe connection (once per connection: they change only with a new
    /// server, which comes with a new connection): its system identifier (a refusal leaves it unknown, 0, and fails no
    /// probe) and whether the probe may read the last checkpoint's timeline.</summary>
    private void ReadServerFacts(HostSlot slot, NpgsqlConnection connection)
    {
        using (var privilege = new NpgsqlCommand(CheckpointTimelineSql, connection))
        {
            slot.ReadsCheckpointTimeline = privilege.ExecuteScalar() is true;
        }

        try
        {
            using var command = new NpgsqlCommand(SystemIdentifierSql, connection);
            slot.SystemIdentifier = command.ExecuteScalar() is long id ? unchecked((ulong)id) : 0;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            slot.SystemIdentifier = 0;
            LogNoSystemIdentifier(_logger, _cluster, slot.Name);
        }
    }
}
