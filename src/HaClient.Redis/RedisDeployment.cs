using HaClient.Failover;
using HaClient.Monitoring;
using HaClient.Resilience;
using HaClient.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Polly.CircuitBreaker;
using StackExchange.Redis;

namespace HaClient.Redis;

/// <summary>
/// A Redis deployment (a Sentinel-managed primary and replicas, a plain primary/replica set, or a Redis Cluster) as one
/// unit: the object an application holds, like Npgsql's data source. It keeps one StackExchange.Redis multiplexer per node,
/// follows the primary (Sentinel discovery verified with <c>ROLE</c>, <c>+switch-master</c> on every Sentinel, polling
/// as a fallback), routes writes to the primary and reads to its replicas within a replication-offset bound, bounds every
/// call in time and isolates failing nodes with a per-node circuit breaker.
/// </summary>
/// <remarks>Create it once with <see cref="Create"/> and dispose it at shutdown. Thread-safe. Keep using
/// StackExchange.Redis's <see cref="IDatabase"/>: take it per operation from <see cref="GetWriteDatabase"/> /
/// <see cref="GetReadDatabase"/> (cheap), or let <see cref="ExecuteWriteAsync{T}(Func{IDatabase, CancellationToken, Task{T}}, WriteDurability?, CancellationToken)"/>
/// and <see cref="ExecuteReadAsync{T}"/> route, bound and retry for you.</remarks>
public sealed partial class RedisDeployment : IAsyncDisposable, IEndpointStateSource
{
    private readonly RedisOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly RedisTopologyMonitor? _monitor;
    private readonly ClusterTopologyMonitor? _clusterMonitor;
    private readonly FailoverEngine<RedisNode, RedisReadIntent>?[]? _slotEngines;
    private readonly RedisFailoverTopology _routing;
    private readonly FailoverEngine<RedisNode, RedisReadIntent> _engine;
    private int _disposed;

    private RedisDeployment(string name, RedisOptions options, ResolvedRedisSettings settings, ILoggerFactory loggerFactory, TimeProvider timeProvider)
    {
        Name = name;
        _options = options;
        Options = options.WithoutSecrets();
        _time = timeProvider;
        _logger = loggerFactory.CreateLogger("HaClient.Redis");
        if (options.Cluster)
        {
            _clusterMonitor = new ClusterTopologyMonitor(name, options, settings.Endpoints, e => new RedisNode(e, NewCircuit(e.ToString()), ClusterNodeConfig), _logger, timeProvider);
            _slotEngines = new FailoverEngine<RedisNode, RedisReadIntent>?[ClusterSlot.Count];
            _clusterMonitor.Start();
        }
        else
        {
            _monitor = new RedisTopologyMonitor(name, options, settings, e => new RedisNode(e, NewCircuit(e.ToString()), NodeConfig)
            {
                Zone = settings.Zones.ZoneOf(e),
                ZoneRank = settings.Zones.RankOf(e),
                IsLocal = settings.Zones.IsLocal(e),
            }, SentinelConfig, _logger, timeProvider);
            _monitor.Start();
        }

        _routing = new RedisFailoverTopology(_monitor, _clusterMonitor, options, timeProvider);
        _engine = new FailoverEngine<RedisNode, RedisReadIntent>(name, "redis", _routing, RedisFailureClassifier.Classify, options.Resilience.OperationTimeout, options.FailoverProbeInterval * 2, timeProvider, _logger)
        {
            HedgeReadsAfter = options.Resilience.HedgeReadsAfter,
        };
        HaClientTelemetry.Register(this);
    }

    /// <summary>Creates the deployment and starts following it. Throws <see cref="OptionsValidationException"/> naming
    /// every bad setting (never the password). It never waits for a node: a deployment whose nodes are all down is
    /// created and serves once they return.</summary>
    /// <param name="options">The settings.</param>
    /// <param name="loggerFactory">Where the monitor and the engine log; none when <see langword="null"/>.</param>
    /// <param name="name">The logical name (logs, metrics, health).</param>
    /// <param name="timeProvider">The clock of every budget, breaker and monitor; <see cref="TimeProvider.System"/> when
    /// <see langword="null"/>.</param>
    public static RedisDeployment Create(RedisOptions options, ILoggerFactory? loggerFactory = null, string name = "default", TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var errors = new List<string>();
        var settings = RedisOptionsValidator.Resolve(options, errors);
        if (settings is null)
        {
            throw new OptionsValidationException(name, typeof(RedisOptions), errors);
        }

        return new RedisDeployment(name, options, settings, loggerFactory ?? NullLoggerFactory.Instance, timeProvider ?? TimeProvider.System);
    }

    /// <summary>The logical name (logs, metrics, health output).</summary>
    public string Name { get; }

    string IEndpointStateSource.ClusterName => Name;

    /// <summary>The options in force, without the password (a copy: safe to log or serialize).</summary>
    public RedisOptions Options { get; }

    /// <summary>The primary writes go to now (host:port), or <see langword="null"/> while none is verified. In cluster
    /// mode <see langword="null"/>: each shard has its own (<see cref="RedisTopology.Shards"/>).</summary>
    public string? CurrentPrimary => _routing.Current.Primary?.Endpoint.ToString();

    /// <summary>The latest view of every node: immutable, versioned, replaced on every probe.</summary>
    public RedisTopology Topology => _routing.Current;

    /// <summary>Raised after each change of the primary (in cluster mode, of any shard's primary) or of any node's role
    /// (on the monitor's thread; keep it short).</summary>
    public event Action<RedisTopology>? TopologyChanged
    {
        add
        {
            if (_monitor is not null)
            {
                _monitor.TopologyChanged += value;
            }

            if (_clusterMonitor is not null)
            {
                _clusterMonitor.TopologyChanged += value;
            }
        }

        remove
        {
            if (_monitor is not null)
            {
                _monitor.TopologyChanged -= value;
            }

            if (_clusterMonitor is not null)
            {
                _clusterMonitor.TopologyChanged -= value;
            }
        }
    }

    /// <summary>Waits until a primary is verified (in cluster mode, one in every shard), at most
    /// <paramref name="timeout"/>. Returns whether one is.</summary>
    /// <exception cref="OptionsValidationException">Cluster mode, and every seed in <see cref="RedisOptions.Endpoints"/>
    /// answered as something else than a Redis Cluster node (a Sentinel, a standalone node): the error names the
    /// setting.</exception>
    public async Task<bool> WaitForPrimaryAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        if (_clusterMonitor is not null)
        {
            return await WaitForShardPrimariesAsync(timeout, cancellationToken).ConfigureAwait(false);
        }

        if (_monitor is null)
        {
            return true;
        }

        var deadline = new OperationDeadline(_time, timeout);
        while (_monitor.Topology.PrimaryIndex < 0)
        {
            var remaining = deadline.Remaining;
            if (remaining <= TimeSpan.Zero)
            {
                return false;
            }

            _ = await TopologyChangeSignal.WhenChangedAsync(_monitor.Changed, Min(remaining, TimeSpan.FromMilliseconds(100)), _time, cancellationToken).ConfigureAwait(false);
        }

        return true;
    }

    /// <summary>
    /// The primary's <see cref="IDatabase"/>. Take it per operation: after a failover the next call returns the new
    /// primary's. Calls on it are bounded by StackExchange.Redis's own timeouts (set from
    /// <c>Resilience:OperationTimeout</c>), not by HaClient's budget and circuit; prefer
    /// <see cref="ExecuteWriteAsync{T}(Func{IDatabase, CancellationToken, Task{T}}, WriteDurability?, CancellationToken)"/>.
    /// </summary>
    /// <exception cref="NoEligibleEndpointException">No primary is verified right now (a failover is under way).</exception>
    public IDatabase GetWriteDatabase(int db = -1)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        ThrowIfCluster(nameof(GetWriteDatabase));
        var node = _routing.SelectWriter() ?? throw new NoEligibleEndpointException(Name, "primary", TimeSpan.Zero);
        return node.Multiplexer!.GetDatabase(db);
    }

    /// <summary>An <see cref="IDatabase"/> for reads: a replica of the primary within <see cref="RedisOptions.MaxLagBytes"/>,
    /// else the primary. Take it per operation.</summary>
    /// <exception cref="NoEligibleEndpointException">No node may serve reads right now.</exception>
    public IDatabase GetReadDatabase(RedisReadPreference preference = RedisReadPreference.ReplicaPreferred, int db = -1)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        ThrowIfCluster(nameof(GetReadDatabase));
        var node = _routing.SelectReader(preference, null) ?? throw new NoEligibleEndpointException(Name, "replica or primary", TimeSpan.Zero);
        return node.Multiplexer!.GetDatabase(db);
    }

    /// <summary>
    /// Runs <paramref name="work"/> against the primary, within <c>Resilience:OperationTimeout</c> and the primary's
    /// circuit, with the configured durability (<see cref="RedisOptions.WaitReplicas"/>). While a failover is under way it
    /// waits (within the budget) for the new primary. A write refused with READONLY (the node was demoted, nothing was
    /// written) or refused before it was sent is re-routed; a write cut off after it was sent throws
    /// <see cref="WriteOutcomeUnknownException"/> and is never retried.
    /// </summary>
    /// <param name="work">The write, on the primary's <see cref="IDatabase"/>.</param>
    /// <param name="durability">After the work, <c>WAIT numreplicas timeout</c> runs on the same connection when this (or,
    /// when left out, <see cref="RedisOptions.WaitReplicas"/> and <see cref="RedisOptions.WaitTimeout"/>) asks for
    /// replicas; fewer acknowledgements throw <see cref="ReplicationNotConfirmedException"/>. Pass
    /// <see cref="WriteDurability.None"/> to skip the wait.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public Task<T> ExecuteWriteAsync<T>(Func<IDatabase, CancellationToken, Task<T>> work, WriteDurability? durability = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        ThrowIfCluster(nameof(ExecuteWriteAsync));

        // Left out (null) or Default: the configured durability. (A non-nullable parameter defaulting to default(T) was
        // (0, 0), the same as None: every write that left it out skipped WAIT.)
        return _engine.ExecuteWriteAsync<T, RedisCall<T>>(new(work, DurabilityOrDefault(durability), _engine), cancellationToken);
    }

    /// <summary>
    /// Runs <paramref name="work"/> on a node allowed by <paramref name="preference"/>, within the operation budget and
    /// the node's circuit. A read that fails with a connection-level error is retried once on another node; then
    /// <see cref="ReadFailedException"/>. Do not write in <paramref name="work"/>.
    /// </summary>
    public Task<T> ExecuteReadAsync<T>(Func<IDatabase, CancellationToken, Task<T>> work, RedisReadPreference preference = RedisReadPreference.ReplicaPreferred, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        ThrowIfCluster(nameof(ExecuteReadAsync));
        return _engine.ExecuteReadAsync<T, RedisCall<T>>(preference, new(work, WriteDurability.None, _engine), cancellationToken);
    }

    /// <summary>The durability asked for; left out (null) or Default: the configured one.</summary>
    private WriteDurability DurabilityOrDefault(WriteDurability? durability)
        => durability is { IsDefault: false } explicitDurability ? explicitDurability : new WriteDurability(_options.WaitReplicas, _options.WaitTimeout);

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private EndpointCircuit NewCircuit(string endpoint) => new(Name, endpoint, _options.Resilience, RedisFailureClassifier.Classify, _time);

    private ConfigurationOptions BaseConfig(bool tls)
    {
        var op = (int)Math.Clamp(_options.Resilience.OperationTimeout.TotalMilliseconds, 10, int.MaxValue);
        var c = new ConfigurationOptions
        {
            AbortOnConnectFail = false,
            ConnectTimeout = (int)_options.ConnectTimeout.TotalMilliseconds,
            ConnectRetry = 1,
            SyncTimeout = op,
            AsyncTimeout = op,
            BacklogPolicy = BacklogPolicy.FailFast,
            ReconnectRetryPolicy = new LinearRetry(250),
            KeepAlive = 5,
            ClientName = "haclient",
            User = _options.User,
            Password = _options.Password,
        };
        if (tls)
        {
            var t = _options.Tls;
            c.Ssl = true;
            c.SslHost = t.Host;
            if (t.CaCertificatePath is { } ca)
            {
                c.TrustIssuer(ca);
            }

            if (t.ClientCertificatePath is { } cert)
            {
                c.SetUserPemCertificate(cert, t.ClientKeyPath);
            }
        }

        return c;
    }

    /// <summary>The configuration of one connection: HaClient's settings, the user's hook, then what HaClient relies on.</summary>
    private ConfigurationOptions Configure(bool tls, IReadOnlyList<HostEndpoint> endpoints, bool sentinel)
    {
        var c = BaseConfig(tls);
        _options.ConfigureOptions?.Invoke(c);
        c.EndPoints.Clear();
        foreach (var e in endpoints)
        {
            c.EndPoints.Add(e.Host, e.Port);
        }

        c.AbortOnConnectFail = false;
        c.BacklogPolicy = BacklogPolicy.FailFast;
        if (sentinel)
        {
            c.CommandMap = CommandMap.Sentinel;
            c.ClientName = "haclient-sentinel";
        }

        c.TieBreaker = string.Empty;
        return c;
    }

    private ConfigurationOptions NodeConfig(HostEndpoint endpoint) => Configure(_options.Tls.Enabled, [endpoint], false);

    private ConfigurationOptions SentinelConfig(HostEndpoint endpoint) => Configure(_options.Tls.Sentinels ?? _options.Tls.Enabled, [endpoint], true);

    IReadOnlyList<EndpointSnapshot> IEndpointStateSource.GetEndpointStates()
    {
        var t = _routing.Current;
        var result = new EndpointSnapshot[t.States.Length];
        for (var i = 0; i < result.Length; i++)
        {
            var role = RedisTopologyMonitor.RoleName(t.States[i].Role);
            result[i] = new EndpointSnapshot(t.Links[i].Name, role, _monitor?.LagSeconds(i), t.Links[i].Circuit.State);
        }

        return result;
    }

    /// <summary>Stops the monitor and closes every connection.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        HaClientTelemetry.Unregister(this);
        if (_monitor is not null)
        {
            await _monitor.DisposeAsync().ConfigureAwait(false);
        }

        if (_clusterMonitor is not null)
        {
            await _clusterMonitor.DisposeAsync().ConfigureAwait(false);
        }
    }
}
