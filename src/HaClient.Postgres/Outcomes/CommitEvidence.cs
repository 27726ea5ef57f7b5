using Npgsql;
using NpgsqlTypes;

namespace HaClient.Postgres;

/// <summary>
/// What a transaction records on the primary just before its commit is sent (one round trip, inside the transaction),
/// so that a commit whose reply is lost can be resolved on whichever server holds the cluster's history afterwards
/// (<see cref="CommitDecision"/>): the transaction's ID, how far the primary's WAL had got (every record of the
/// transaction lies before it, its commit record after it), the timeline, the server's identity and start time, and
/// when the transaction began.
/// </summary>
/// <param name="Xid">The transaction's 64-bit ID (<c>xid8</c>, epoch included), or <see langword="null"/> when it was
/// never assigned one (the work wrote nothing).</param>
/// <param name="Lsn">The primary's WAL insert position before the commit.</param>
/// <param name="Timeline">The primary's timeline.</param>
/// <param name="SystemIdentifier">The cluster's system identifier (<c>pg_control_system()</c>).</param>
/// <param name="PostmasterStart">When the primary's server started (<c>pg_postmaster_start_time()</c>).</param>
/// <param name="TransactionStart">When the transaction began (<c>now()</c>, the primary's clock).</param>
internal sealed record CommitEvidence(ulong? Xid, ulong Lsn, uint Timeline, string SystemIdentifier, DateTime PostmasterStart, DateTime TransactionStart)
{
    internal const string CaptureSql =
        "SELECT pg_current_xact_id_if_assigned()::text, pg_current_wal_insert_lsn(), substr(pg_walfile_name(pg_current_wal_insert_lsn()), 1, 8), " +
        "(SELECT system_identifier FROM pg_control_system())::text, pg_postmaster_start_time(), now()";

    /// <summary>Records the evidence on <paramref name="connection"/>, inside its open transaction.</summary>
    public static async ValueTask<CommitEvidence> CaptureAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(CaptureSql, connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        return new CommitEvidence(
            reader.IsDBNull(0) ? null : ulong.Parse(reader.GetString(0), System.Globalization.CultureInfo.InvariantCulture),
            (ulong)reader.GetFieldValue<NpgsqlLogSequenceNumber>(1),
            Convert.ToUInt32(reader.GetString(2), 16),
            reader.GetString(3),
            reader.GetDateTime(4),
            reader.GetDateTime(5));
    }
}

/// <summary>What the server that is primary now says about itself and about one transaction ID
/// (<see cref="PostgresCommitResolver"/>).</summary>
/// <param name="SystemIdentifier">Its system identifier.</param>
/// <param name="InRecovery">Whether it is a standby.</param>
/// <param name="PostmasterStart">When it started.</param>
/// <param name="Timeline">Its timeline (<see langword="null"/> on a standby).</param>
/// <param name="ReplayEnd">Where its last recovery ended (<c>pg_last_wal_replay_lsn()</c>, static once recovery is over:
/// a promoted standby's switch point, or the end of a crash recovery), or <see langword="null"/> when it never
/// recovered.</param>
/// <param name="XactStatus"><c>pg_xact_status</c> of the transaction: <c>committed</c>, <c>aborted</c>,
/// <c>in progress</c>, <c>future</c> (beyond the next ID it would assign: it never saw a record of it), or
/// <see langword="null"/> (too old to tell, or no ID).</param>
internal readonly record struct PrimaryFacts(string SystemIdentifier, bool InRecovery, DateTime PostmasterStart, uint? Timeline, ulong? ReplayEnd, string? XactStatus);
