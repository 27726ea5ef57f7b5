using HaClient.Failover;
using HaClient.Resilience;
using System.Runtime.CompilerServices;
using Npgsql;

namespace HaClient.Postgres;

/// <summary>The calls the engine makes on a host: open a pooled connection through the host's breaker, until the
/// deadline (<see cref="EndpointCircuit.ExecuteBoundedAsync{T, TState}"/>: outside Polly's pipeline while the circuit is
/// closed, pooled state machines, a reused cancellation source), and run the work. A call counts as in flight on its host
/// until it really ends (a call abandoned at its deadline still occupies the host), which least-busy routing sees; a read
/// that succeeds adds its duration (once it holds a connection) to the host's response time.</summary>
internal static class PostgresCalls
{
    /// <summary>The work as a read or a write.</summary>
    public readonly struct Work<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> work) : IEndpointCall<HostSlot, T>
    {
        public ValueTask<T> RunAsync(HostSlot endpoint, WriteProgress? progress, OperationDeadline deadline, CancellationToken cancellationToken)
            => endpoint.Circuit.ExecuteBoundedAsync(static (s, ct) => RunWorkAsync(s.endpoint, s.work, s.progress, s.time, ct), (endpoint, work, progress, time: deadline.TimeProvider), deadline, cancellationToken);
    }

    /// <summary>A write that also returns its read-your-writes token (the primary's WAL position after the work).</summary>
    public readonly struct WorkWithToken<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> work) : IEndpointCall<HostSlot, WriteResult<T>>
    {
        public ValueTask<WriteResult<T>> RunAsync(HostSlot endpoint, WriteProgress? progress, OperationDeadline deadline, CancellationToken cancellationToken)
            => endpoint.Circuit.ExecuteBoundedAsync(static (s, ct) => RunWorkWithTokenAsync(s.endpoint, s.work, s.progress, ct), (endpoint, work, progress), deadline, cancellationToken);
    }

    /// <summary>The work in a transaction the call begins and commits, so that its outcome can always be told: a failure
    /// before the commit is sent means not committed; after it, the engine resolves the commit from the evidence recorded
    /// just before (<see cref="CommitEvidence"/>, <see cref="PostgresCommitResolver"/>).</summary>
    public readonly struct TransactionWork<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> work) : IEndpointCall<HostSlot, T>
    {
        public ValueTask<T> RunAsync(HostSlot endpoint, WriteProgress? progress, OperationDeadline deadline, CancellationToken cancellationToken)
            => endpoint.Circuit.ExecuteBoundedAsync(static (s, ct) => RunTransactionAsync(s.endpoint, s.work, s.progress!, ct), (endpoint, work, progress), deadline, cancellationToken);
    }

    /// <summary>A read on the ladder: the work, and which step served it with the serving host's staleness taken when the
    /// call started (the read sees at least that state).</summary>
    public readonly struct LadderWork<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> work, TimeSpan? lagBound, TimeProvider time) : IEndpointCall<HostSlot, LadderRead<T>>
    {
        public async ValueTask<LadderRead<T>> RunAsync(HostSlot endpoint, WriteProgress? progress, OperationDeadline deadline, CancellationToken cancellationToken)
        {
            var state = endpoint.State;
            var staleness = state.Role == PostgresRole.Primary || state.CurrentAsOfTimestamp == 0 ? TimeSpan.Zero : time.GetElapsedTime(state.CurrentAsOfTimestamp);
            var value = await new Work<T>(work).RunAsync(endpoint, progress, deadline, cancellationToken).ConfigureAwait(false);
            var step = state.Role == PostgresRole.Primary || lagBound is not { } bound || staleness <= bound ? ReadStep.Fresh : ReadStep.StaleReplica;
            return new LadderRead<T>(value, step, step == ReadStep.Fresh && state.Role == PostgresRole.Primary ? TimeSpan.Zero : staleness, endpoint.Name);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<T> RunTransactionAsync<T>(HostSlot slot, Func<NpgsqlConnection, CancellationToken, Task<T>> work, WriteProgress progress, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref slot.InFlight);
        try
        {
            await using var connection = await OpenAsync(slot, progress, cancellationToken).ConfigureAwait(false);
            progress.MarkInTransaction();
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            var value = await work(connection, cancellationToken).ConfigureAwait(false);
            var evidence = await CommitEvidence.CaptureAsync(connection, cancellationToken).ConfigureAwait(false);
            if (!progress.TryMarkCommitSent(evidence, value))
            {
                // The engine has already told the caller "not committed" (the call outlived its deadline): roll back.
                throw new OperationCanceledException("The write was given up as not committed before its commit was sent; it was rolled back.");
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return value;
        }
        finally
        {
            Interlocked.Decrement(ref slot.InFlight);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<T> RunWorkAsync<T>(HostSlot slot, Func<NpgsqlConnection, CancellationToken, Task<T>> work, WriteProgress? progress, TimeProvider time, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref slot.InFlight);
        try
        {
            await using var connection = await OpenAsync(slot, progress, cancellationToken).ConfigureAwait(false);
            var started = time.GetTimestamp();
            var value = await work(connection, cancellationToken).ConfigureAwait(false);
            if (progress is null)
            {
                // A read that succeeded: its time on the server (the connection in hand) feeds the host's response time.
                HaClient.Routing.ResponseTime.Record(ref slot.ResponseTicks, time.GetElapsedTime(started));
            }

            return value;
        }
        finally
        {
            Interlocked.Decrement(ref slot.InFlight);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<WriteResult<T>> RunWorkWithTokenAsync<T>(HostSlot slot, Func<NpgsqlConnection, CancellationToken, Task<T>> work, WriteProgress? progress, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref slot.InFlight);
        try
        {
            await using var connection = await OpenAsync(slot, progress, cancellationToken).ConfigureAwait(false);
            var value = await work(connection, cancellationToken).ConfigureAwait(false);
            return new WriteResult<T>(value, await PostgresCluster.ReadTokenAsync(slot, connection, cancellationToken).ConfigureAwait(false));
        }
        finally
        {
            Interlocked.Decrement(ref slot.InFlight);
        }
    }

    /// <summary>Opens a pooled connection; for a write, refuses one to a standby (nothing sent) and then marks the write
    /// sent.</summary>
    private static async ValueTask<NpgsqlConnection> OpenAsync(HostSlot slot, WriteProgress? progress, CancellationToken cancellationToken)
    {
        var connection = await slot.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        if (progress is not null)
        {
            if (await IsStandbyAsync(connection, slot.IsPooled, cancellationToken).ConfigureAwait(false))
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                throw new NotPrimaryException();
            }

            progress.MarkSent();
        }

        return connection;
    }

    /// <summary>
    /// Whether <paramref name="connection"/> is to a standby. PostgreSQL reports <c>in_hot_standby</c> on every session
    /// and updates it when the server is promoted, but an idle pooled connection reads that update only with its next
    /// reply: right after a promotion it still says <c>on</c>. So <c>on</c> is confirmed with one round trip (which also
    /// brings the update in) before the host is reported as no primary; <c>off</c> needs none.
    /// Through a pooler (<paramref name="pooled"/>) the parameter says nothing: PgBouncer 1.18 hands every client the
    /// values its pool's first server session reported, and passes no later change on (checked in the lab: after a
    /// promotion, old and new client connections alike keep reading <c>on</c>; after a demotion they would keep reading
    /// <c>off</c>). There the round trip is always made.
    /// </summary>
    public static async ValueTask<bool> IsStandbyAsync(NpgsqlConnection connection, bool pooled, CancellationToken cancellationToken)
    {
        if (!pooled && !(connection.PostgresParameters.TryGetValue("in_hot_standby", out var v) && v == "on"))
        {
            return false;
        }

        await using var command = new NpgsqlCommand("SELECT pg_is_in_recovery()", connection);
        return (bool)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }
}
