using Npgsql;

namespace HaClient.Postgres;

/// <summary>What the probe asks a server: once per probe connection its system identifier, then every probe its role,
/// timeline, WAL position and replay lag.</summary>
internal sealed partial class HostProber
{
    // One round trip: role, timeline, WAL position and replay lag. A replica's lag is 0 only while its WAL receiver is
    // streaming and has replayed everything received; otherwise (cut off from the primary, reconnecting after a
    // switchover, replay behind) it is the time since the last replayed transaction: everything acknowledged after
    // that moment may be missing there. Reading the receiver's status needs pg_read_all_stats (pg_monitor) or superuser;
    // without it a replica is taken as not streaming, which is conservative.
    internal const string ProbeSql = """
        SELECT s.r,
               CASE WHEN s.r THEN w.received_tli
                    ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END,
               CASE WHEN s.r THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END,
               CASE WHEN NOT s.r THEN NULL
                    WHEN w.status = 'streaming' AND pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0::float8
                    ELSE extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8 END
        FROM (SELECT pg_is_in_recovery() AS r) s
        LEFT JOIN pg_stat_wal_receiver w ON true
        """;

    /// <summary>The statement that reads a server's system identifier. <c>pg_control_system()</c> is executable by every
    /// role by default (PostgreSQL grants it to PUBLIC); a server that revoked it leaves the identifier unknown.</summary>
    internal const string SystemIdentifierSql = "SELECT system_identifier FROM pg_control_system()";

    /// <summary>Reads the server's system identifier on a new probe connection (once per connection: it changes only
    /// with a new server, which comes with a new connection). A refusal leaves it unknown (0) and fails no probe.</summary>
    private void ReadSystemIdentifier(HostSlot slot, NpgsqlConnection connection)
    {
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
