using System.Globalization;
using HaClient.Failover;
using HaClient.Resilience;
using Npgsql;
using NpgsqlTypes;

namespace HaClient.Postgres;

/// <summary>Resolves a PostgreSQL commit whose reply was lost: one round trip to the server that is primary now, through
/// its breaker and within the operation's deadline, then <see cref="CommitDecision"/>.</summary>
internal sealed class PostgresCommitResolver : ICommitResolver<HostSlot>
{
    /// <summary>The facts <see cref="PrimaryFacts"/> names, in one statement. The status is asked only for an ID below the
    /// next one the server would assign (<c>pg_xact_status</c> refuses one "in the future"); on a standby the timeline is
    /// not read (<c>pg_walfile_name</c> refuses to run there).</summary>
    internal const string FactsSql =
        "SELECT (SELECT system_identifier FROM pg_control_system())::text, pg_is_in_recovery(), pg_postmaster_start_time(), " +
        "CASE WHEN pg_is_in_recovery() THEN NULL ELSE substr(pg_walfile_name(pg_current_wal_insert_lsn()), 1, 8) END, " +
        "pg_last_wal_replay_lsn(), " +
        "CASE WHEN $1::xid8 < pg_snapshot_xmax(pg_current_snapshot()) THEN pg_xact_status($1::xid8) ELSE 'future' END";

    public static PostgresCommitResolver Instance { get; } = new();

    public ValueTask<CommitVerdict> ResolveAsync(HostSlot primary, object evidence, OperationDeadline deadline, CancellationToken cancellationToken)
    {
        var e = (CommitEvidence)evidence;
        if (e.Xid is null)
        {
            return new(CommitDecision.Decide(e, default));
        }

        return primary.Circuit.ExecuteBoundedAsync(static (s, ct) => AskAsync(s.primary, s.e, ct), (primary, e), deadline, cancellationToken);
    }

    private static async ValueTask<CommitVerdict> AskAsync(HostSlot primary, CommitEvidence evidence, CancellationToken cancellationToken)
    {
        var facts = await ReadFactsAsync(primary.Pool, evidence.Xid!.Value, cancellationToken).ConfigureAwait(false);
        return CommitDecision.Decide(evidence, facts);
    }

    /// <summary>Reads <see cref="PrimaryFacts"/> for <paramref name="xid"/> from a connection of <paramref name="pool"/>.</summary>
    internal static async ValueTask<PrimaryFacts> ReadFactsAsync(NpgsqlDataSource pool, ulong xid, CancellationToken cancellationToken)
    {
        await using var connection = await pool.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(FactsSql, connection);
        command.Parameters.Add(new NpgsqlParameter { Value = xid.ToString(CultureInfo.InvariantCulture), NpgsqlDbType = NpgsqlDbType.Text });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        return new PrimaryFacts(
            reader.GetString(0),
            reader.GetBoolean(1),
            reader.GetDateTime(2),
            reader.IsDBNull(3) ? null : Convert.ToUInt32(reader.GetString(3), 16),
            reader.IsDBNull(4) ? null : (ulong)reader.GetFieldValue<NpgsqlLogSequenceNumber>(4),
            reader.IsDBNull(5) ? null : reader.GetString(5));
    }
}
