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
    private readonly TimeProvider _time;
    private readonly KeyValuePair<string, object?> _clusterTag;
    private int _rotation;
    private int _disposed;

    private PostgresCluster(string name, ResolvedPostgresSettings settings, PostgresClusterOptions options, ILoggerFactory loggerFactory, TimeProvider timeProvider)
    {
        Name = name;
        _options = options;
        _time = timeProvider;
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
            if (!settings.IsSet("Timeout"))
            {
                user.Timeout = opSeconds;
            }

            if (!settings.IsSet("Command Timeout"))
            {
                user.CommandTimeout = opSeconds;
            }

            // Admission: never open more per host than the cap; callers beyond it wait for a connection within their
            // deadline (Npgsql's pool queue) instead of meeting the server's max_connections.
            user.MaxPoolSize = settings.MaxConnectionsPerHost;
            if (user.MinPoolSize > user.MaxPoolSize)
            {
                user.MinPoolSize = user.MaxPoolSize;
            }

            if (!settings.IsSet("Cancellation Timeout"))
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
            var circuit = new EndpointCircuit(name, endpoint.ToString(), options.Resilience, PostgresFailureClassifier.Classify, timeProvider);
            _slots[i] = new HostSlot(i, endpoint, pool, probeSource, circuit);
        }

        _monitor = new TopologyMonitor(name, _slots, options, _logger, timeProvider);
        _monitor.Start();
        HaClientTelemetry.Register(this);
    }

    /// <summary>Creates the cluster and starts its monitors. Throws <see cref="OptionsValidationException"/> naming every
    /// bad setting. It never waits for a host: a cluster whose hosts are all down is created and serves once they return.</summary>
    /// <param name="options">The settings.</param>
    /// <param name="loggerFactory">Where the monitors and the engine log; none when <see langword="null"/>.</param>
    /// <param name="name">The logical name (logs, metrics, health).</param>
    /// <param name="timeProvider">The clock of every budget, probe interval, breaker and lag bound;
    /// <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    public static PostgresCluster Create(PostgresClusterOptions options, ILoggerFactory? loggerFactory = null, string name = "default", TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var errors = new List<string>();
        var settings = PostgresClusterOptionsValidator.Resolve(options, errors);
        if (settings is null)
        {
            throw new OptionsValidationException(name, typeof(PostgresClusterOptions), errors);
        }

        return new PostgresCluster(name, settings, options, loggerFactory ?? NullLoggerFactory.Instance, timeProvider ?? TimeProvider.System);
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
        var deadline = new OperationDeadline(_time, _options.Resilience.OperationTimeout);
        var exclude = -1;
        Exception? last = null;
        for (var attempt = 0; attempt < 2; attempt++)
        {
            var index = await WaitForReaderAsync(consistency, exclude, deadline, last, cancellationToken).ConfigureAwait(false);
            var slot = _slots[index];
            try
            {
                return await RunAsync(slot, work, deadline, write: null, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && IsRetriableRead(e))
            {
                CountError(e is BrokenCircuitException ? ErrorKinds.ReadCircuitOpen : ErrorKinds.ReadRetried);
                OnFailure(e);
                last = e;
                exclude = index;
            }
        }

        CountError(ErrorKinds.ReadFailed);
        throw new ReadFailedException(_slots[exclude].Name, last);
    }

    /// <summary>Opens a connection to the primary (for Dapper, EF Core or plain ADO.NET). The caller owns it. Writes on
    /// it bypass HaClient's outcome tracking; prefer <see cref="ExecuteWriteAsync{T}"/>.</summary>
    public async ValueTask<NpgsqlConnection> OpenWriteConnectionAsync(CancellationToken cancellationToken = default)
    {
        var deadline = new OperationDeadline(_time, _options.Resilience.OperationTimeout);
        for (var attempt = 0; ; attempt++)
        {
            var slot = _slots[await WaitForPrimaryAsync(deadline, cancellationToken).ConfigureAwait(false)];
            var connection = await OpenAsync(slot, deadline, cancellationToken).ConfigureAwait(false);
            if (!IsHotStandby(connection))
            {
                return connection;
            }

            await connection.DisposeAsync().ConfigureAwait(false);
            _monitor.ReportNotPrimary(slot);
            if (attempt > 0)
            {
                throw new NoEligibleEndpointException(Name, "primary", deadline.Elapsed);
            }
        }
    }

    /// <summary>Opens a connection to a node that meets <paramref name="consistency"/>. The caller owns it.</summary>
    public async ValueTask<NpgsqlConnection> OpenReadConnectionAsync(ReadConsistency consistency = default, CancellationToken cancellationToken = default)
    {
        var deadline = new OperationDeadline(_time, _options.Resilience.OperationTimeout);
        var index = await WaitForReaderAsync(consistency, -1, deadline, null, cancellationToken).ConfigureAwait(false);
        return await OpenAsync(_slots[index], deadline, cancellationToken).ConfigureAwait(false);
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
        var deadline = new OperationDeadline(_time, _options.Resilience.OperationTimeout);
        for (var attempt = 0; ; attempt++)
        {
            var slot = _slots[await WaitForPrimaryAsync(deadline, cancellationToken).ConfigureAwait(false)];
            var write = new WriteAttempt(captureToken);
            try
            {
                var value = await RunAsync(slot, work, deadline, write, cancellationToken).ConfigureAwait(false);
                return new WriteResult<T>(value, write.Token);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && PostgresFailureClassifier.Classify(e) == FailureKind.ReadOnly)
            {
                // The host said it is a standby (in_hot_standby=on before anything was sent, or 25006 read-only): nothing
                // was written. Re-route once.
                _monitor.ReportNotPrimary(slot);
                CountError(ErrorKinds.WriteRerouted);
                ThrowIfLastAttempt(attempt, deadline, e);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && !write.Sent && IsUnavailable(e))
            {
                // Failed before the work started (open failed or timed out, the circuit is open, the server is full):
                // nothing was sent.
                OnFailure(e);
                CountError(e is BrokenCircuitException ? ErrorKinds.WriteCircuitOpen : ErrorKinds.WriteNotSent);
                ThrowIfLastAttempt(attempt, deadline, e);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && write.Sent && IsUnavailable(e))
            {
                OnFailure(e);
                CountError(ErrorKinds.WriteOutcomeUnknown);
                LogOutcomeUnknown(_logger, Name, slot.Name, e.GetType().Name);
                throw new WriteOutcomeUnknownException(slot.Name, e);
            }
        }
    }

    /// <summary>A write that failed before anything was sent is re-routed once; after that the caller gets a safe,
    /// retryable <see cref="NoEligibleEndpointException"/> that carries the cause.</summary>
    private void ThrowIfLastAttempt(int attempt, OperationDeadline deadline, Exception cause)
    {
        if (attempt > 0 || deadline.IsExpired)
        {
            CountError(ErrorKinds.NoEligibleEndpoint);
            throw new NoEligibleEndpointException(Name, "primary", deadline.Elapsed, cause);
        }
    }

    /// <summary>After a failed call: an endpoint failure wakes the monitor (probe every host now); overload is counted and
    /// says nothing against the host, so it neither wakes the probes nor reaches the breaker.</summary>
    private void OnFailure(Exception e)
    {
        switch (PostgresFailureClassifier.Classify(e))
        {
            case FailureKind.EndpointFailure:
                _monitor.RequestProbe();
                break;
            case FailureKind.Overload:
                CountError(ErrorKinds.Overload);
                break;
        }
    }

    /// <summary>Opens a pooled connection on <paramref name="slot"/> and runs <paramref name="work"/>, through the host's
    /// breaker and until <paramref name="deadline"/> (<see cref="EndpointCircuit.ExecuteBoundedAsync{T, TState}"/>:
    /// outside Polly's pipeline while the circuit is closed, pooled state machines, a reused cancellation source).
    /// Await the result once.</summary>
    private ValueTask<T> RunAsync<T>(HostSlot slot, Func<NpgsqlConnection, CancellationToken, Task<T>> work, OperationDeadline deadline, WriteAttempt? write, CancellationToken cancellationToken)
    {
        HaClientTelemetry.RoutingDecisions.Add(1, _clusterTag, new("haclient.target_role", slot.Index == _monitor.PrimaryIndex ? "primary" : "replica"));
        return slot.Circuit.ExecuteBoundedAsync(
            static (s, ct) => RunOnConnectionAsync(s.slot, s.work, s.write, ct),
            (slot, work, write),
            deadline,
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

    private async Task<NpgsqlConnection> OpenAsync(HostSlot slot, OperationDeadline deadline, CancellationToken cancellationToken)
    {
        try
        {
            return await slot.Circuit.ExecuteBoundedAsync(
                static (pool, ct) => pool.OpenConnectionAsync(ct).AsTask(),
                slot.Pool,
                deadline,
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && IsUnavailable(e))
        {
            // Nothing was sent: the caller gets the safe, retryable exception with the cause inside.
            OnFailure(e);
            CountError(ErrorKinds.OpenFailed);
            throw new NoEligibleEndpointException(Name, slot.Index == _monitor.PrimaryIndex ? "primary" : "replica or primary", deadline.Elapsed, e);
        }
    }

    private async ValueTask<int> WaitForPrimaryAsync(OperationDeadline deadline, CancellationToken cancellationToken)
    {
        while (true)
        {
            var changed = _monitor.Changed;
            var index = Router.SelectPrimary(_slots, _monitor.PrimaryIndex);
            if (index >= 0)
            {
                return index;
            }

            await WaitForChangeAsync(changed, deadline, "primary", null, cancellationToken).ConfigureAwait(false);
        }
    }

    private async ValueTask<int> WaitForReaderAsync(ReadConsistency consistency, int exclude, OperationDeadline deadline, Exception? last, CancellationToken cancellationToken)
    {
        while (true)
        {
            var changed = _monitor.Changed;
            var rotation = Interlocked.Increment(ref _rotation);
            var index = Router.SelectReader(_slots, _monitor.PrimaryIndex, consistency, _options.ReplicaLag, _options.FallbackToPrimary, _time.GetTimestamp(), _time.TimestampFrequency, exclude, rotation);
            if (index >= 0)
            {
                return index;
            }

            await WaitForChangeAsync(changed, deadline, consistency.Kind == ReadConsistencyKind.Primary ? "primary" : "replica or primary", last, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task WaitForChangeAsync(Task changed, OperationDeadline deadline, string target, Exception? last, CancellationToken cancellationToken)
    {
        var remaining = deadline.Remaining;
        if (remaining <= TimeSpan.Zero)
        {
            CountError(ErrorKinds.NoEligibleEndpoint);
            throw new NoEligibleEndpointException(Name, target, deadline.Elapsed, last);
        }

        _monitor.RequestProbe();
        try
        {
            // Wake on a topology change, and re-check at least every probe interval (a breaker may have half-opened).
            await changed.WaitAsync(Min(remaining, _options.FailoverProbeInterval * 4), _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static bool IsHotStandby(NpgsqlConnection connection)
        => connection.PostgresParameters.TryGetValue("in_hot_standby", out var v) && v == "on";

    /// <summary>Whether a call failed because its host could not serve it (an endpoint failure or overload), as opposed to
    /// a server error about the query itself: a write that meets this before it was sent is re-routed, after it was sent
    /// its outcome is unknown, and a read is retried on another node.</summary>
    private static bool IsUnavailable(Exception e) => PostgresFailureClassifier.Classify(e) is FailureKind.EndpointFailure or FailureKind.Overload;

    private static bool IsRetriableRead(Exception e) => PostgresFailureClassifier.Classify(e) is FailureKind.EndpointFailure or FailureKind.Overload or FailureKind.ReadOnly;

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

    /// <summary>The request pool of host <paramref name="hostIndex"/> (tests check the settings HaClient applied to it).</summary>
    internal NpgsqlDataSource GetPool(int hostIndex) => _slots[hostIndex].Pool;

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
}

/// <summary>The result of a write and its read-your-writes token.</summary>
/// <typeparam name="T">The work's result.</typeparam>
/// <param name="Value">What the work returned.</param>
/// <param name="Token">The token; pass it to reads that must see this write.</param>
public readonly record struct WriteResult<T>(T Value, ConsistencyToken Token);
