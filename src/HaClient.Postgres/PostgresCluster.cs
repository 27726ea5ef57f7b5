using HaClient.Failover;
using HaClient.Resilience;
using HaClient.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using Polly.CircuitBreaker;

namespace HaClient.Postgres;

/// <summary>
/// A PostgreSQL cluster (a primary and its streaming replicas) as one unit: the unit an application holds, like an
/// <see cref="NpgsqlDataSource"/>. It keeps a pool per host, monitors every host's role and lag in the background,
/// sends writes only to the primary and reads to replicas within the lag bound, and follows failovers. Every operation
/// runs on HaClient's one <see cref="FailoverEngine{TEndpoint, TReadIntent}"/>, by the rules it documents.
/// </summary>
/// <remarks>Create it once with <see cref="Create"/> and dispose it at shutdown. Thread-safe.</remarks>
public sealed partial class PostgresCluster : IAsyncDisposable, IEndpointStateSource
{
    private readonly HostSlot[] _slots;
    private readonly TopologyMonitor _monitor;
    private readonly FailoverEngine<HostSlot, ReadConsistency> _engine;
    private readonly PostgresClusterOptions _options;
    private readonly PostgresClusterOptions _optionsWithoutSecrets;
    private readonly int _maxConnectionsPerHost;
    private readonly PostgresFailoverTopology _topology;
    private ClusterDataSource? _writeDataSource;
    private ClusterDataSource? _boundedDataSource;
    private ClusterDataSource? _primaryDataSource;
    private string? _displayConnectionString;
    private int _disposed;

    private PostgresCluster(string name, ResolvedPostgresSettings settings, PostgresClusterOptions options, ILoggerFactory loggerFactory, TimeProvider timeProvider)
    {
        Name = name;
        _options = options;
        _optionsWithoutSecrets = options.WithoutSecrets();
        _maxConnectionsPerHost = settings.MaxConnectionsPerHost;
        var logger = loggerFactory.CreateLogger("HaClient.Postgres");
        _slots = HostSlots.Create(name, settings, options, loggerFactory, timeProvider);
        _monitor = new TopologyMonitor(name, _slots, options, logger, timeProvider);
        _topology = new PostgresFailoverTopology(_slots, _monitor, options, timeProvider);
        _engine = new FailoverEngine<HostSlot, ReadConsistency>(
            name,
            "postgresql",
            _topology,
            PostgresFailureClassifier.Classify,
            options.Resilience.OperationTimeout,
            options.FailoverProbeInterval * 2,
            timeProvider,
            logger)
        {
            CommitResolver = PostgresCommitResolver.Instance,
            HedgeReadsAfter = options.Resilience.HedgeReadsAfter,
        };
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

    /// <summary>The options in force, without secrets: a copy whose connection string has no password and whose Patroni
    /// addresses have no user info (safe to log or serialize).</summary>
    public PostgresClusterOptions Options => _optionsWithoutSecrets;

    /// <summary>How much of host <paramref name="hostIndex"/>'s pool is in use: calls in flight on it (connections in
    /// use or awaited) and its cap (<see cref="PostgresClusterOptions.MaxConnectionsPerHost"/>).</summary>
    public HostPoolUse GetPoolUse(int hostIndex) => new(Volatile.Read(ref _slots[hostIndex].InFlight), _maxConnectionsPerHost);

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
    public Task<T> ExecuteWriteAsync<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        return _engine.ExecuteWriteAsync<T, PostgresCalls.Work<T>>(new(work), cancellationToken);
    }

    /// <summary>As <see cref="ExecuteWriteAsync{T}"/>, and also returns the read-your-writes token of the write: the
    /// primary's WAL position after <paramref name="work"/> returned (so after its commit).</summary>
    public Task<WriteResult<T>> ExecuteWriteWithTokenAsync<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        return _engine.ExecuteWriteAsync<WriteResult<T>, PostgresCalls.WorkWithToken<T>>(new(work), cancellationToken);
    }

    /// <summary>
    /// Runs <paramref name="work"/> on a node that meets <paramref name="consistency"/>. A read that fails on one node with a
    /// connection-level error is retried once on another eligible node, within the operation budget.
    /// </summary>
    public Task<T> ExecuteReadAsync<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> work, ReadConsistency consistency = default, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        return _engine.ExecuteReadAsync<T, PostgresCalls.Work<T>>(consistency, new(work), cancellationToken);
    }

    /// <summary>Opens a connection to the primary (for Dapper, EF Core or plain ADO.NET). The caller owns it. Writes on
    /// it bypass HaClient's outcome tracking; prefer <see cref="ExecuteWriteAsync{T}"/>.</summary>
    public async ValueTask<NpgsqlConnection> OpenWriteConnectionAsync(CancellationToken cancellationToken = default)
    {
        var deadline = _engine.StartOperation();
        for (var attempt = 0; ; attempt++)
        {
            var slot = await _engine.WaitForWriterAsync(deadline, null, cancellationToken).ConfigureAwait(false);
            var connection = await OpenAsync(slot, deadline, cancellationToken).ConfigureAwait(false);
            bool standby;
            try
            {
                standby = await PostgresCalls.IsStandbyAsync(connection, slot.IsPooled, cancellationToken).AsTask()
                    .WaitAsync(deadline.Remaining > TimeSpan.Zero ? deadline.Remaining : TimeSpan.FromMilliseconds(1), _engine.TimeProvider, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                throw new NoEligibleEndpointException(Name, "primary", deadline.Elapsed, e);
            }

            if (!standby)
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
        var deadline = _engine.StartOperation();
        var slot = await _engine.WaitForReaderAsync(consistency, null, deadline, null, cancellationToken).ConfigureAwait(false);
        return await OpenAsync(slot, deadline, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The first half of <see cref="OpenReadConnectionAsync"/>: the host a read goes to, skipping host
    /// <paramref name="excludeHost"/> (-1: none; the router's own exclusion, as <see cref="ExecuteReadAsync{T}"/>'s retry
    /// uses it), waited for within a budget that starts now. For a caller that runs the read itself (EF Core), knows
    /// which host it tried, and retries once on another when the open or the read fails there.
    /// </summary>
    /// <param name="consistency">What the read needs.</param>
    /// <param name="excludeHost">The index (in <see cref="PostgresTopology.Hosts"/>) of a host the read must not go to,
    /// or -1.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <exception cref="NoEligibleEndpointException">No host serves the read within the budget.</exception>
    public async ValueTask<ReadRoute> RouteReadAsync(ReadConsistency consistency, int excludeHost, CancellationToken cancellationToken)
    {
        var deadline = _engine.StartOperation();
        var exclude = excludeHost >= 0 && excludeHost < _slots.Length ? _slots[excludeHost] : null;
        return new ReadRoute(await _engine.WaitForReaderAsync(consistency, exclude, deadline, null, cancellationToken).ConfigureAwait(false), deadline);
    }

    /// <summary>The second half: opens a pooled connection on the host <see cref="RouteReadAsync"/> chose, within the
    /// same budget (a failed open is <see cref="NoEligibleEndpointException"/>, nothing sent, as for
    /// <see cref="OpenReadConnectionAsync"/>).</summary>
    /// <param name="route">A route from <see cref="RouteReadAsync"/>.</param>
    /// <param name="cancellationToken">Cancels the open.</param>
    public Task<NpgsqlConnection> OpenRouteAsync(ReadRoute route, CancellationToken cancellationToken)
        => route.Slot is { } slot ? OpenAsync(slot, route.Deadline, cancellationToken) : throw new ArgumentException("The route is empty: take one from RouteReadAsync.", nameof(route));

    /// <summary>A read that a caller ran itself on a connection from <see cref="OpenRouteAsync"/> failed on its host
    /// with a connection-level error and will be retried on another: counted as the engine counts its own retries
    /// (<c>read_retried</c>), and the monitor probes at once instead of at its next interval.</summary>
    /// <param name="endpointFailure">Whether the failure was the host's (a refused open, a broken connection).</param>
    public void ReportReadRetried(bool endpointFailure)
    {
        _engine.CountError(ErrorKinds.ReadRetried);
        if (endpointFailure)
        {
            _monitor.RequestProbe();
        }
    }

    /// <summary>A data source whose connections open on the primary (through <see cref="OpenWriteConnectionAsync"/>), for
    /// Dapper and anything else that takes a <see cref="System.Data.Common.DbDataSource"/>. See the remarks of
    /// <see cref="GetDataSource"/> for what that path gives up.</summary>
    public System.Data.Common.DbDataSource GetWriteDataSource() => _writeDataSource ??= new ClusterDataSource(this, null);

    /// <summary>A data source whose connections open on a node that meets <paramref name="consistency"/> (through
    /// <see cref="OpenReadConnectionAsync"/>). Against <see cref="ExecuteReadAsync{T}"/> and
    /// <see cref="ExecuteWriteAsync{T}"/> such connections give up: the budget beyond the open, the retry of a failed
    /// read, <see cref="WriteOutcomeUnknownException"/> for a write whose outcome is unknown, and the read-your-writes
    /// token of a write. <c>CreateConnection</c> routes when it is called; <c>OpenConnectionAsync</c> when it opens.</summary>
    public System.Data.Common.DbDataSource GetDataSource(ReadConsistency consistency = default)
        => consistency.Kind switch
        {
            ReadConsistencyKind.WithinLagBound => _boundedDataSource ??= new ClusterDataSource(this, consistency),
            ReadConsistencyKind.Primary => _primaryDataSource ??= new ClusterDataSource(this, consistency),
            _ => new ClusterDataSource(this, consistency),
        };

    /// <summary>The connection string without its password (for <see cref="System.Data.Common.DbDataSource.ConnectionString"/>).</summary>
    internal string DisplayConnectionString => _displayConnectionString ??= new NpgsqlConnectionStringBuilder(_options.ConnectionString) { Password = null }.ConnectionString;

    /// <summary>An unopened connection of the host a read (or, for <see langword="null"/>, a write) would be routed to
    /// now; <see cref="NoEligibleEndpointException"/> when none is eligible.</summary>
    internal NpgsqlConnection CreateRoutedConnection(ReadConsistency? read)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var slot = read is { } consistency ? _topology.SelectReader(consistency, null) : _topology.SelectWriter();
        return slot?.Pool.CreateConnection() ?? throw new NoEligibleEndpointException(Name, read is null ? "primary" : "replica or primary", TimeSpan.Zero);
    }

    private async Task<NpgsqlConnection> OpenAsync(HostSlot slot, OperationDeadline deadline, CancellationToken cancellationToken)
    {
        try
        {
            return await slot.Circuit.ExecuteBoundedAsync(
                static (slot, ct) => slot.OpenConnectionAsync(ct),
                slot,
                deadline,
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && PostgresFailureClassifier.Classify(e) is var kind && kind is FailureKind.EndpointFailure or FailureKind.Overload)
        {
            // Nothing was sent: the caller gets the safe, retryable exception with the cause inside.
            if (kind == FailureKind.EndpointFailure)
            {
                _monitor.RequestProbe();
            }

            _engine.CountError(ErrorKinds.OpenFailed);
            throw new NoEligibleEndpointException(Name, slot.Index == _monitor.PrimaryIndex ? "primary" : "replica or primary", deadline.Elapsed, e);
        }
    }

    IReadOnlyList<EndpointSnapshot> IEndpointStateSource.GetEndpointStates()
    {
        var result = new EndpointSnapshot[_slots.Length];
        for (var i = 0; i < _slots.Length; i++)
        {
            var s = _slots[i].State;
            var use = GetPoolUse(i);
            result[i] = new EndpointSnapshot(_slots[i].Name, TopologyMonitor.RoleName(s.Role), s.ReplayLagSeconds, _slots[i].Circuit.State, use.InFlight, use.MaxConnections);
        }

        return result;
    }

    /// <summary>The request pool of host <paramref name="hostIndex"/> (tests check the settings HaClient applied to it).</summary>
    internal NpgsqlDataSource GetPool(int hostIndex) => _slots[hostIndex].Pool;

    internal ConnectionRamp GetRamp(int hostIndex) => _slots[hostIndex].Ramp;

    /// <summary>Host <paramref name="hostIndex"/>'s slot (tests check its addresses and monitor sources).</summary>
    internal HostSlot GetSlot(int hostIndex) => _slots[hostIndex];

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
            if (slot.ViaProbeSource is { } via)
            {
                await via.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}

/// <summary>How much of one host's pool is in use.</summary>
/// <param name="InFlight">Calls in flight on the host: connections in use, or awaited from a full pool.</param>
/// <param name="MaxConnections">The host's connection cap.</param>
public readonly record struct HostPoolUse(int InFlight, int MaxConnections);


/// <summary>The result of a write and its read-your-writes token.</summary>
/// <typeparam name="T">The work's result.</typeparam>
/// <param name="Value">What the work returned.</param>
/// <param name="Token">The token; pass it to reads that must see this write.</param>
public readonly record struct WriteResult<T>(T Value, ConsistencyToken Token);
