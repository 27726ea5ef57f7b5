using HaClient.Failover;
using HaClient.Postgres;
using Npgsql;
using NpgsqlTypes;
using Xunit;

namespace HaClient.Postgres.Tests.Integration;

/// <summary>The trap of resolving a lost commit by its transaction ID, on the real servers: in asynchronous mode a
/// standby promoted before it received a transaction hands that transaction's ID out again, and then
/// <c>pg_xact_status</c> on it says "committed" about a different transaction. HaClient's decision must not believe it.</summary>
[Collection("plain-lab")]
[Trait("Category", "Lab")]
public sealed class OutcomeTrapLabTests
{
    private static string Conn(int port) => $"Host=127.0.0.1;Port={port};{Lab.Credentials};Pooling=false";

    private static async Task<T> ScalarAsync<T>(int port, string sql)
    {
        await using var c = new NpgsqlConnection(Conn(port));
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, c);
        return (T)(await cmd.ExecuteScalarAsync())!;
    }

    private static async Task ExecAsync(int port, string sql)
    {
        await using var c = new NpgsqlConnection(Conn(port));
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, c);
        await cmd.ExecuteNonQueryAsync();
    }

    /// <summary>Inserts row <paramref name="id"/> in a transaction on <paramref name="port"/>, records the evidence just
    /// before its commit as HaClient does, and commits (acknowledged: asynchronous mode waits for no standby).</summary>
    private static async Task<CommitEvidence> CommitWithEvidenceAsync(int port, long id)
    {
        await using var c = new NpgsqlConnection(Conn(port));
        await c.OpenAsync();
        await using var tx = await c.BeginTransactionAsync();
        await using (var cmd = new NpgsqlCommand($"INSERT INTO t_trap(id) VALUES ({id})", c))
        {
            await cmd.ExecuteNonQueryAsync();
        }

        var evidence = await CommitEvidence.CaptureAsync(c, CancellationToken.None);
        await tx.CommitAsync();
        return evidence;
    }

    [Fact]
    public async Task A_standby_promoted_without_the_transaction_is_not_believed_when_it_has_reused_the_transaction_s_id()
    {
        await Lab.RunAsync("pg reset");
        const int primary = 15432, standby = 15433;
        Assert.False(await ScalarAsync<bool>(primary, "SELECT pg_is_in_recovery()"));
        await ExecAsync(primary, "CREATE TABLE IF NOT EXISTS t_trap(id bigint)");
        try
        {
            // Row 1 reaches the standby before it is cut off; row 2 only the primary.
            var replicated = await CommitWithEvidenceAsync(primary, 1);
            Assert.True(await Lab.EventuallyAsync(async () => await ScalarAsync<bool>(standby, $"SELECT pg_last_wal_replay_lsn() >= '{new NpgsqlLogSequenceNumber(replicated.Lsn)}'::pg_lsn AND EXISTS (SELECT 1 FROM t_trap WHERE id = 1)"), TimeSpan.FromSeconds(10)), "row 1 never reached the standby");
            await ExecAsync(standby, "ALTER SYSTEM SET primary_conninfo = 'host=127.0.0.1 port=1 user=haclient connect_timeout=1'");
            await ExecAsync(standby, "SELECT pg_reload_conf()");
            Assert.True(await Lab.EventuallyAsync(async () => await ScalarAsync<long>(standby, "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'") == 0, TimeSpan.FromSeconds(10)), "the standby kept streaming");
            var lost = await CommitWithEvidenceAsync(primary, 2);
            Assert.Equal(replicated.Xid + 1, lost.Xid);

            await Lab.RunAsync("pg crash-primary");
            await Lab.RunAsync("pg promote n2");

            // The trap, for real: the promoted standby gives the lost transaction's ID to one of its own, which commits.
            Assert.True(await Lab.EventuallyAsync(async () =>
            {
                await ScalarAsync<string>(standby, "SELECT pg_current_xact_id()::text");
                return await ScalarAsync<bool>(standby, $"SELECT '{lost.Xid}'::xid8 < pg_snapshot_xmax(pg_current_snapshot())");
            }, TimeSpan.FromSeconds(10), pollMs: 1), "the promoted standby never reached the lost transaction's ID");
            Assert.Equal("committed", await ScalarAsync<string>(standby, $"SELECT pg_xact_status('{lost.Xid}'::xid8)"));
            Assert.Equal(0L, await ScalarAsync<long>(standby, "SELECT count(*) FROM t_trap WHERE id = 2"));

            await using var pool = NpgsqlDataSource.Create(Conn(standby));
            var lostFacts = await PostgresCommitResolver.ReadFactsAsync(pool, lost.Xid!.Value, CancellationToken.None);
            Assert.Equal(CommitVerdict.NotCommitted, CommitDecision.Decide(lost, lostFacts));

            // And the transaction it did receive is resolved as committed.
            var replicatedFacts = await PostgresCommitResolver.ReadFactsAsync(pool, replicated.Xid!.Value, CancellationToken.None);
            Assert.Equal(CommitVerdict.Committed, CommitDecision.Decide(replicated, replicatedFacts));
            Assert.Equal(1L, await ScalarAsync<long>(standby, "SELECT count(*) FROM t_trap WHERE id = 1"));
        }
        finally
        {
            await Lab.RunAsync("pg reset");
        }
    }
}
