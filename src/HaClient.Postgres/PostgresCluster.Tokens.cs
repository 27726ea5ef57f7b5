using HaClient.Routing;
using Npgsql;
using NpgsqlTypes;

namespace HaClient.Postgres;

/// <summary>Read-your-writes tokens: reading a write's, and capping one that arrived from a client.</summary>
public sealed partial class PostgresCluster
{
    private long _lastSampleClaim;

    /// <summary>The clock the cluster was created with (<see cref="TimeProvider.System"/> by default): the one whose
    /// <see cref="TimeProvider.GetTimestamp"/> <see cref="CapToken"/> takes.</summary>
    public TimeProvider TimeProvider => _engine.TimeProvider;

    /// <summary>
    /// The token a read of this cluster should keep, for a token that arrived from a client (a cookie, a header, a
    /// message) in a request that began at <paramref name="requestStartedTimestamp"/>:
    /// <list type="bullet">
    /// <item>empty for a token of another cluster (another system identifier): it is ignored;</item>
    /// <item>capped to the primary's position for a token beyond it, once a probe of the primary that began after the
    /// request began has shown that position (a legitimate token comes from a write acknowledged before the request
    /// began, so it is at or before that position; one beyond it is forged, or of a history the primary has lost); the
    /// primary must be on the newest timeline any host has shown;</item>
    /// <item>otherwise the token itself, with this cluster's system identifier when it carried none (the older
    /// <c>X/Y</c> form).</item>
    /// </list>
    /// While no such probe exists yet, a token beyond the primary's last known position is returned as it is and the
    /// monitor is asked to sample the primary now (at most once every <see cref="TokenCap.SampleGap"/>), so that a call at
    /// the end of the same request can usually decide. Call it at the start of a request and again before the token
    /// is sent back; cap only the incoming token, never one of a write made during the request (it may be beyond a
    /// probe that began before the write). A read given an uncapped large token is still correct: the primary serves it.
    /// </summary>
    /// <param name="token">The token the request arrived with.</param>
    /// <param name="requestStartedTimestamp"><see cref="TimeProvider"/>'s <see cref="TimeProvider.GetTimestamp"/> when
    /// the request began, taken before the token was read from it.</param>
    public ConsistencyToken CapToken(ConsistencyToken token, long requestStartedTimestamp)
    {
        var time = _engine.TimeProvider;
        var kept = PostgresTokenCap.Cap(_slots, _monitor.PrimaryIndex, token, requestStartedTimestamp, time.TimestampFrequency, out var needsSample);
        if (needsSample && TokenCap.TryClaimSample(ref _lastSampleClaim, time.GetTimestamp(), time.TimestampFrequency))
        {
            _monitor.RequestPrimarySample();
        }

        return kept;
    }

    /// <summary>Reads the read-your-writes token from an open connection to the primary, after a commit made on it: the
    /// primary's WAL position and its system identifier (left out, 0, where the server does not let the role run
    /// <c>pg_control_system()</c>, which PostgreSQL grants to every role by default; the position is then read alone).</summary>
    /// <remarks>The token is read after the commit, in a statement of its own, on purpose: inside the write's transaction
    /// the WAL position does not yet include the commit record, and a replica that replayed to it could still miss the
    /// write. The position is the server's, not the session's, so through a pooler in transaction mode (which may lend
    /// this statement another server session of the same server) it is still at or past the write's commit.</remarks>
    public static async ValueTask<ConsistencyToken> GetConsistencyTokenAsync(NpgsqlConnection primaryConnection, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(primaryConnection);
        try
        {
            await using var command = new NpgsqlCommand(TokenSql, primaryConnection);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            return new ConsistencyToken((ulong)reader.GetFieldValue<NpgsqlLogSequenceNumber>(0), unchecked((ulong)reader.GetInt64(1)));
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            // Checked in the lab: the right is checked when the statement starts, so no CASE can guard the call.
            return new ConsistencyToken(await ReadLsnAsync(primaryConnection, cancellationToken).ConfigureAwait(false));
        }
    }

    /// <summary>The WAL position and the system identifier, in one round trip.</summary>
    internal const string TokenSql = "SELECT pg_current_wal_lsn(), (SELECT system_identifier FROM pg_control_system())";

    /// <summary>The token of a write on <paramref name="slot"/>: the WAL position read on <paramref name="primaryConnection"/>
    /// with the identifier the monitor read from that server (no second lookup per write).</summary>
    internal static async ValueTask<ConsistencyToken> ReadTokenAsync(HostSlot slot, NpgsqlConnection primaryConnection, CancellationToken cancellationToken)
    {
        var identifier = slot.SystemIdentifier;
        if (identifier == 0)
        {
            return await GetConsistencyTokenAsync(primaryConnection, cancellationToken).ConfigureAwait(false);
        }

        return new ConsistencyToken(await ReadLsnAsync(primaryConnection, cancellationToken).ConfigureAwait(false), identifier);
    }

    private static async ValueTask<ulong> ReadLsnAsync(NpgsqlConnection primaryConnection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SELECT pg_current_wal_lsn()", primaryConnection);
        return (ulong)(NpgsqlLogSequenceNumber)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

}
