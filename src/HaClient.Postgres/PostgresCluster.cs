using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using HaClient.Resilience;
using HaClient.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;
using Polly.CircuitBreaker;

namespace HaClient.Postgres;

/// <summary>
/// A PostgreSQL cluster (a primary and its streaming replicas) as one unit: the unit an application holds, like an
/// <see cref="NpgsqlDataSource"/>. It keeps a pool per host, monitors every host's role and lag in the background,
/// sends writes only to the primary and reads to replicas within the lag bound, and follows failovers.
/// </summary>
/// <remarks>Create it once with <see cref="Create"/> and dispose it at shutdown. Thread-safe.</remarks>
public sealed partial class PostgresCluster : IAsyncDisposable, IEndpointStateSource
{
    private readonly HostSlot[] _slots;
    private readonly TopologyMonitor _monitor;
    private readonly PostgresClusterOptions _options;
    private readonly ILogger _logger;
    private readonly KeyValuePair<string, object?> _clusterTag;
    private int _rotation;
    private int _disposed;

    private PostgresCluster(string name, ResolvedPostgresSettings settings, PostgresClusterOptions options, ILoggerFactory loggerFactory)
    {
        Name = name;
        _options = options;
        _logger = loggerFactory.CreateLogger("HaClient.Postgres");
        _clusterTag = new("haclient.cluster", name);
        var opSeconds = Math.Max(1, (int)Math.Ceiling(options.Resilience.OperationTimeout.TotalSeconds));
        var probeSeconds = Math.Max(1, (int)Math.Ceiling(options.ProbeTimeout.TotalSeconds));
        _slots = new HostSlot[settings.Hosts.Count];
        for (var i = 0; i < _slots.Length; i++)
        {
            var endpoint = settings.Hosts[i];
            var user = new NpgsqlConnectionStringBuilder(settings.Template.ConnectionString)
            {
                Host = endpoint.Host,
                Port = endpoint.Port,
                TargetSessionAttributes = null,
            };
            if (!settings.Template.ContainsKey("Timeout"))
            {
                user.Timeout = opSeconds;
            }

            if (!settings.Template.ContainsKey("Command Timeout"))
            {
                user.CommandTimeout = opSeconds;
            }

            if (!settings.Template.ContainsKey("Cancellation Timeout"))
            {
                // Do not wait for a cancel request's answer: the server it goes to may be frozen.
                user.CancellationTimeout = -1;
            }

            var probe = new NpgsqlConnectionStringBuilder(user.ConnectionString)
            {
                Pooling = false,
                Timeout = probeSeconds,
                CommandTimeout = probeSeconds,
                CancellationTimeout = -1,
                ApplicationName = "haclient-monitor",
                Multiplexing = false,
            };
            var pool = new NpgsqlDataSourceBuilder(user.ConnectionString) { Name = $"{name}/{endpoint}" }.UseLoggerFactory(loggerFactory).Build();
            var probeSource = new NpgsqlDataSourceBuilder(probe.ConnectionString) { Name = $"{name}/{endpoint}/monitor" }.Build();
            var circuit = new EndpointCircuit(name, endpoint.ToString(), options.Resilience, IsEndpointFailure);
            _slots[i] = new HostSlot(i, endpoint, pool, probeSource, circuit);
        }

        _monitor = new TopologyMonitor(name, _slots, options, _logger);
        _monitor.Start();
        HaClientTelemetry.Register(this);
    }

    /// <summary>Creates the cluster and starts its monitors. Throws <see cref="OptionsValidationException"/> naming every
    /// bad setting. It never waits for a host: a cluster whose hosts are all down is created and serves once they return.</summary>
    public static PostgresCluster Create(PostgresClusterOptions options, ILoggerFactory? loggerFactory = null, string name = "default")
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var errors = new List<string>();
        var settings = PostgresClusterOptionsValidator.Resolve(options, errors);
        if (settings is null)
        {
            throw new OptionsValidationException(name, typeof(PostgresClusterOptions), errors);
        }

        return new PostgresCluster(name, settings, options, loggerFactory ?? NullLoggerFactory.Instance);
    }

    /// <summary>The logical name (used in logs, metrics and health output).</summary>
    public string Name { get; }

    string IEndpointStateSource.ClusterName => Name;

    /// <summary>The latest view of every host.</summary>
    public PostgresTopology Topology => _monitor.Topology;

    /// <summary>Raised (on a monitor thread) after each change of the primary or of any host's role. Keep handlers short.</summary>
    public event Action<PostgresTopology>? TopologyChanged
    {
        add => _monitor.TopologyChanged += value;
        remove => _monitor.TopologyChanged -= value;
    }

    /// <summary>The options in force.</summary>
    public PostgresClusterOptions Options => _options;

    /// <summary>Each host's circuit breaker state, in configuration order.</summary>
    public CircuitState GetCircuitState(int hostIndex) => _slots[hostIndex].Circuit.State;

    /// <summary>Completes when every host has been probed once, or when <paramref name="timeout"/> passes. Never throws
    /// because a host is down.</summary>
    public Task WaitForTopologyAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
        => _monitor.WaitForFirstProbesAsync(timeout, cancellationToken);

    /// <summary>
    /// Runs <paramref name="work"/> on a connection to the primary. Waits within the operation budget for a primary while
    /// a failover is under way. When the connection fails after the work started, throws
    /// <see cref="WriteOutcomeUnknownException"/> and never retries. Server errors (constraint violations and such)
    /// surface unchanged.
    /// </summary>
    public async Task<T> ExecuteWriteAsync<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        return (await WriteCoreAsync(work, captureToken: false, cancellationToken).ConfigureAwait(false)).Value;
    }

    /// <summary>As <see cref="ExecuteWriteAsync{T}"/>, and also returns the read-your-writes token of the write: the
    /// primary's WAL position after <paramref name="work"/> returned (so after its commit).</summary>
    public async Task<WriteResult<T>> ExecuteWriteWithTokenAsync<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        return await WriteCoreAsync(work, captureToken: true, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs <paramref name="work"/> on a node that meets <paramref name="consistency"/>. A read that fails on one node with a
    /// connection-level error is retried once on another eligible node, within the operation budget.
    /// </summary>
    public async Task<T> ExecuteReadAsync<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> work, ReadConsistency consistency = default, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var start = Stopwatch.GetTimestamp();
        var budget = _options.Resilience.OperationTimeout;
        var exclude = -1;
        Exception? last = null;
        for (var attempt = 0; attempt < 2; attempt++)
        {
            var index = await WaitForReaderAsync(consistency, exclude, start, budget, last, cancellationToken).ConfigureAwait(false);
            var slot = _slots[index];
            var remaining = budget - Stopwatch.GetElapsedTime(start);
            try
            {
                return await RunAsync(slot, work, remaining, write: null, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && IsRetriableRead(e))
            {
                CountError(IsEndpointFailure(e) ? "read_retried" : "read_circuit_open");
                if (IsEndpointFailure(e))
                {
                    _monitor.RequestProbe();
                }

                last = e;
                exclude = index;
            }
        }

        CountError("read_failed");
        throw new ReadFailedException(_slots[exclude].Name, last);
    }

    /// <summary>Opens a connection to the primary (for Dapper, EF Core or plain ADO.NET). The caller owns it. Writes on
    /// it bypass HaClient's outcome tracking; prefer <see cref="ExecuteWriteAsync{T}"/>.</summary>
    public async ValueTask<NpgsqlConnection> OpenWriteConnectionAsync(CancellationToken cancellationToken = default)
    {
        var start = Stopwatch.GetTimestamp();
        var budget = _options.Resilience.OperationTimeout;
        for (var attempt = 0; ; attempt++)
        {
            var slot = _slots[await WaitForPrimaryAsync(start, budget, cancellationToken).ConfigureAwait(false)];
            var connection = await OpenAsync(slot, budget - Stopwatch.GetElapsedTime(start), cancellationToken).ConfigureAwait(false);
            if (!IsHotStandby(connection))
            {
                return connection;
            }

            await connection.DisposeAsync().ConfigureAwait(false);
            _monitor.ReportNotPrimary(slot);
            if (attempt > 0)
            {
                throw new NoEligibleEndpointException(Name, "primary", Stopwatch.GetElapsedTime(start));
            }
        }
    }

    /// <summary>Opens a connection to a node that meets <paramref name="consistency"/>. The caller owns it.</summary>
    public async ValueTask<NpgsqlConnection> OpenReadConnectionAsync(ReadConsistency consistency = default, CancellationToken cancellationToken = default)
    {
        var start = Stopwatch.GetTimestamp();
        var budget = _options.Resilience.OperationTimeout;
        var index = await WaitForReaderAsync(consistency, -1, start, budget, null, cancellationToken).ConfigureAwait(false);
        return await OpenAsync(_slots[index], budget - Stopwatch.GetElapsedTime(start), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads the read-your-writes token from an open connection to the primary, after a commit made on it.</summary>
    public static async ValueTask<ConsistencyToken> GetConsistencyTokenAsync(NpgsqlConnection primaryConnection, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(primaryConnection);
        await using var command = new NpgsqlCommand("SELECT pg_current_wal_lsn()", primaryConnection);
        var lsn = (NpgsqlLogSequenceNumber)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        return new ConsistencyToken((ulong)lsn);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<WriteResult<T>> WriteCoreAsync<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> work, bool captureToken, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var start = Stopwatch.GetTimestamp();
        var budget = _options.Resilience.OperationTimeout;
        for (var attempt = 0; ; attempt++)
        {
            var slot = _slots[await WaitForPrimaryAsync(start, budget, cancellationToken).ConfigureAwait(false)];
            var write = new WriteAttempt(captureToken);
            var remaining = budget - Stopwatch.GetElapsedTime(start);
            try
            {
                var value = await RunAsync(slot, work, remaining, write, cancellationToken).ConfigureAwait(false);
                return new WriteResult<T>(value, write.Token);
            }
            catch (NotPrimaryException e)
            {
                // The connection said in_hot_standby=on before anything was sent: nothing ran. Re-route once.
                _monitor.ReportNotPrimary(slot);
                ThrowIfLastAttempt(attempt, start, e);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ReadOnlySqlTransaction)
            {
                // The host refused the write as read-only: it was demoted, so nothing was written. Safe to re-route once.
                _monitor.ReportNotPrimary(slot);
                CountError("write_rerouted");
                ThrowIfLastAttempt(attempt, start, e);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && !write.Sent && IsEndpointFailure(e))
            {
                // Failed before the work started (open failed or timed out, or the circuit is open): nothing was sent.
                _monitor.RequestProbe();
                CountError("write_open_failed");
                ThrowIfLastAttempt(attempt, start, e);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && write.Sent && IsEndpointFailure(e))
            {
                _monitor.RequestProbe();
                CountError("write_outcome_unknown");
                LogOutcomeUnknown(_logger, Name, slot.Name, e.GetType().Name);
                throw new WriteOutcomeUnknownException(slot.Name, e);
            }
        }
    }

    /// <summary>A write that failed before anything was sent is re-routed once; after that the caller gets a safe,
    /// retryable <see cref="NoEligibleEndpointException"/> that carries the cause.</summary>
    private void ThrowIfLastAttempt(int attempt, long start, Exception cause)
    {
        if (attempt > 0 || Stopwatch.GetElapsedTime(start) >= _options.Resilience.OperationTimeout)
        {
            CountError("no_eligible_endpoint");
            throw new NoEligibleEndpointException(Name, "primary", Stopwatch.GetElapsedTime(start), cause);
        }
    }

    /// <summary>Opens a pooled connection on <paramref name="slot"/> and runs <paramref name="work"/>, through the host's
    /// breaker and within <paramref name="remaining"/> (<see cref="EndpointCircuit.ExecuteBoundedAsync{T, TState}"/>:
    /// outside Polly's pipeline while the circuit is closed, pooled state machines, a reused cancellation source).
    /// Await the result once.</summary>
    private ValueTask<T> RunAsync<T>(HostSlot slot, Func<NpgsqlConnection, CancellationToken, Task<T>> work, TimeSpan remaining, WriteAttempt? write, CancellationToken cancellationToken)
    {
        HaClientTelemetry.RoutingDecisions.Add(1, _clusterTag, new("haclient.target_role", slot.Index == _monitor.PrimaryIndex ? "primary" : "replica"));
        return slot.Circuit.ExecuteBoundedAsync(
            static (s, ct) => RunOnConnectionAsync(s.slot, s.work, s.write, ct),
            (slot, work, write),
            remaining,
            cancellationToken);
    }

    /// <summary>The call itself. It counts as in flight on the host until it really ends (a call abandoned at the end of
    /// its budget still occupies the host), which is what least-busy routing should see.</summary>
    private static async Task<T> RunOnConnectionAsync<T>(HostSlot slot, Func<NpgsqlConnection, CancellationToken, Task<T>> work, WriteAttempt? write, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref slot.InFlight);
        try
        {
            await using var connection = await slot.Pool.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            if (write is not null)
            {
                if (IsHotStandby(connection))
                {
                    throw new NotPrimaryException();
                }

                write.Sent = true;
            }

            var result = await work(connection, cancellationToken).ConfigureAwait(false);
            if (write is { CaptureToken: true })
            {
                write.Token = await GetConsistencyTokenAsync(connection, cancellationToken).ConfigureAwait(false);
            }

            return result;
        }
        finally
        {
            Interlocked.Decrement(ref slot.InFlight);
        }
    }

    private async Task<NpgsqlConnection> OpenAsync(HostSlot slot, TimeSpan remaining, CancellationToken cancellationToken)
    {
        try
        {
            return await slot.Circuit.ExecuteBoundedAsync(
                static (pool, ct) => pool.OpenConnectionAsync(ct).AsTask(),
                slot.Pool,
                remaining,
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && IsEndpointFailure(e))
        {
            // Nothing was sent: the caller gets the safe, retryable exception with the cause inside.
            _monitor.RequestProbe();
            CountError("open_failed");
            throw new NoEligibleEndpointException(Name, slot.Index == _monitor.PrimaryIndex ? "primary" : "replica or primary", remaining, e);
        }
    }

    private async ValueTask<int> WaitForPrimaryAsync(long start, TimeSpan budget, CancellationToken cancellationToken)
    {
        while (true)
        {
            var changed = _monitor.Changed;
            var index = Router.SelectPrimary(_slots, _monitor.PrimaryIndex);
            if (index >= 0)
            {
                return index;
            }

            await WaitForChangeAsync(changed, start, budget, "primary", null, cancellationToken).ConfigureAwait(false);
        }
    }

    private async ValueTask<int> WaitForReaderAsync(ReadConsistency consistency, int exclude, long start, TimeSpan budget, Exception? last, CancellationToken cancellationToken)
    {
        while (true)
        {
            var changed = _monitor.Changed;
            var rotation = Interlocked.Increment(ref _rotation);
            var index = Router.SelectReader(_slots, _monitor.PrimaryIndex, consistency, _options.ReplicaLag, _options.FallbackToPrimary, Stopwatch.GetTimestamp(), exclude, rotation);
            if (index >= 0)
            {
                return index;
            }

            await WaitForChangeAsync(changed, start, budget, consistency.Kind == ReadConsistencyKind.Primary ? "primary" : "replica or primary", last, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task WaitForChangeAsync(Task changed, long start, TimeSpan budget, string target, Exception? last, CancellationToken cancellationToken)
    {
        var remaining = budget - Stopwatch.GetElapsedTime(start);
        if (remaining <= TimeSpan.Zero)
        {
            CountError("no_eligible_endpoint");
            throw new NoEligibleEndpointException(Name, target, Stopwatch.GetElapsedTime(start), last);
        }

        _monitor.RequestProbe();
        try
        {
            // Wake on a topology change, and re-check at least every probe interval (a breaker may have half-opened).
            await changed.WaitAsync(Min(remaining, _options.FailoverProbeInterval * 4), cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static bool IsHotStandby(NpgsqlConnection connection)
        => connection.PostgresParameters.TryGetValue("in_hot_standby", out var v) && v == "on";

    /// <summary>Whether a failure says something about the endpoint (not about the query): it counts for the breaker
    /// and makes a write's outcome unknown.</summary>
    internal static bool IsEndpointFailure(Exception e) => e switch
    {
        PostgresException pg => pg.SqlState.StartsWith("08", StringComparison.Ordinal) || pg.SqlState.StartsWith("57P", StringComparison.Ordinal) || pg.SqlState == "53300",
        NpgsqlException => true,
        BrokenCircuitException => true,
        TimeoutException => true,
        OperationCanceledException => true,
        IOException or SocketException => true,
        _ => false,
    };

    private static bool IsRetriableRead(Exception e) => IsEndpointFailure(e) || e is NotPrimaryException;

    private void CountError(string kind) => HaClientTelemetry.Errors.Add(1, _clusterTag, new("error.type", kind));

    IReadOnlyList<EndpointSnapshot> IEndpointStateSource.GetEndpointStates()
    {
        var result = new EndpointSnapshot[_slots.Length];
        for (var i = 0; i < _slots.Length; i++)
        {
            var s = _slots[i].State;
            result[i] = new EndpointSnapshot(_slots[i].Name, TopologyMonitor.RoleName(s.Role), s.ReplayLagSeconds, _slots[i].Circuit.State);
        }

        return result;
    }

    /// <summary>Stops the monitors and closes every pool.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        HaClientTelemetry.Unregister(this);
        await _monitor.DisposeAsync().ConfigureAwait(false);
        foreach (var slot in _slots)
        {
            await slot.Pool.DisposeAsync().ConfigureAwait(false);
            await slot.ProbeSource.DisposeAsync().ConfigureAwait(false);
        }
    }

    [LoggerMessage(EventId = 1020, Level = LogLevel.Warning, Message = "Cluster {Cluster}: write to {Endpoint} failed after it was sent ({Error}); its outcome is unknown and it was not retried")]
    private static partial void LogOutcomeUnknown(ILogger logger, string cluster, string endpoint, string error);

    /// <summary>One attempt of a write: whether its work was started on a connection (after which its outcome is unknown
    /// if the connection fails), and the read-your-writes token when asked for.</summary>
    private sealed class WriteAttempt(bool captureToken)
    {
        public volatile bool Sent;

        public bool CaptureToken { get; } = captureToken;

        public ConsistencyToken Token;
    }

    /// <summary>A write connection reported <c>in_hot_standby=on</c> before anything was sent.</summary>
    private sealed class NotPrimaryException : Exception
    {
        public NotPrimaryException()
            : base("The connection is to a hot standby.")
        {
        }
    }
}

/// <summary>The result of a write and its read-your-writes token.</summary>
/// <typeparam name="T">The work's result.</typeparam>
/// <param name="Value">What the work returned.</param>
/// <param name="Token">The token; pass it to reads that must see this write.</param>
public readonly record struct WriteResult<T>(T Value, ConsistencyToken Token);
