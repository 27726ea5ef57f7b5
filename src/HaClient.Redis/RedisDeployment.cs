using HaClient.Resilience;
using HaClient.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Polly.CircuitBreaker;
using StackExchange.Redis;

namespace HaClient.Redis;

/// <summary>
/// A Redis deployment (a Sentinel-managed master and replicas, a plain master/replica set, or a Redis Cluster) as one
/// unit: the object an application holds, like Npgsql's data source. It keeps one StackExchange.Redis multiplexer per node,
/// follows the master (Sentinel discovery verified with <c>ROLE</c>, <c>+switch-master</c> on every Sentinel, polling
/// as a fallback), routes writes to the master and reads to replicas within a replication-offset bound, bounds every call
/// in time and isolates failing nodes with a per-node circuit breaker.
/// </summary>
/// <remarks>Create it once with <see cref="Create"/> and dispose it at shutdown. Thread-safe. Keep using
/// StackExchange.Redis's <see cref="IDatabase"/>: take it per operation from <see cref="GetWriteDatabase"/> /
/// <see cref="GetReadDatabase"/> (cheap), or let <see cref="ExecuteWriteAsync{T}(Func{IDatabase, CancellationToken, Task{T}}, WriteDurability, CancellationToken)"/>
/// and <see cref="ExecuteReadAsync{T}"/> route, bound and retry for you.</remarks>
public sealed partial class RedisDeployment : IAsyncDisposable, IEndpointStateSource
{
    private readonly RedisOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly KeyValuePair<string, object?> _clusterTag;
    private readonly RedisMonitor? _monitor;
    private readonly RedisNode? _clusterNode;
    private int _rotation;
    private int _disposed;

    private RedisDeployment(string name, RedisOptions options, ResolvedRedisSettings settings, ILoggerFactory loggerFactory, TimeProvider timeProvider)
    {
        Name = name;
        _options = options;
        _time = timeProvider;
        _logger = loggerFactory.CreateLogger("HaClient.Redis");
        _clusterTag = new("haclient.cluster", name);
        if (options.Cluster)
        {
            var seeds = settings.Endpoints;
            _clusterNode = new RedisNode(seeds[0], NewCircuit(seeds[0].ToString()), _ =>
            {
                var c = BaseConfig();
                foreach (var s in seeds)
                {
                    c.EndPoints.Add(s.Host, s.Port);
                }

                return c;
            });
            _ = _clusterNode.GetMultiplexerAsync();
        }
        else
        {
            _monitor = new RedisMonitor(name, options, settings, e => new RedisNode(e, NewCircuit(e.ToString()), NodeConfig), SentinelConfig, _logger, timeProvider);
            _monitor.Start();
        }

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

    /// <summary>The options in force.</summary>
    public RedisOptions Options => _options;

    /// <summary>The master writes go to now (host:port), or <see langword="null"/> while none is verified.</summary>
    public string? CurrentMaster => _clusterNode is not null ? _clusterNode.Name : _monitor!.Master?.Name;

    /// <summary>The latest view of every node.</summary>
    public RedisTopology Topology
    {
        get
        {
            if (_monitor is null)
            {
                return new RedisTopology(null, [new RedisNodeStatus(_clusterNode!.Name, RedisNodeRole.Unknown, null, _clusterNode.Circuit.State)]);
            }

            return new RedisTopology(_monitor.Master?.Name, _monitor.Nodes.Select(n => new RedisNodeStatus(n.Name, n.State.Role, _monitor.LagBytes(n), n.Circuit.State)).ToArray());
        }
    }

    /// <summary>Waits until a master is verified, at most <paramref name="timeout"/>. Returns whether one is.</summary>
    public async Task<bool> WaitForMasterAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        if (_monitor is null)
        {
            return true;
        }

        var deadline = new OperationDeadline(_time, timeout);
        while (_monitor.Master is null)
        {
            var remaining = deadline.Remaining;
            if (remaining <= TimeSpan.Zero)
            {
                return false;
            }

            try
            {
                await _monitor.Changed.WaitAsync(Min(remaining, TimeSpan.FromMilliseconds(100)), _time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
            }
        }

        return true;
    }

    /// <summary>
    /// The master's <see cref="IDatabase"/>. Take it per operation: after a failover the next call returns the new
    /// master's. Calls on it are bounded by StackExchange.Redis's own timeouts (set from
    /// <c>Resilience:OperationTimeout</c>), not by HaClient's budget and circuit; prefer
    /// <see cref="ExecuteWriteAsync{T}(Func{IDatabase, CancellationToken, Task{T}}, WriteDurability, CancellationToken)"/>.
    /// </summary>
    /// <exception cref="NoEligibleEndpointException">No master is verified right now (a failover is under way).</exception>
    public IDatabase GetWriteDatabase(int db = -1)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var node = SelectMaster() ?? throw new NoEligibleEndpointException(Name, "master", TimeSpan.Zero);
        return node.Multiplexer!.GetDatabase(db);
    }

    /// <summary>An <see cref="IDatabase"/> for reads: a replica within <see cref="RedisOptions.MaxLagBytes"/>, else the
    /// master. Take it per operation.</summary>
    /// <exception cref="NoEligibleEndpointException">No node may serve reads right now.</exception>
    public IDatabase GetReadDatabase(RedisReadPreference preference = RedisReadPreference.ReplicaPreferred, int db = -1)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var node = SelectReader(preference, null) ?? throw new NoEligibleEndpointException(Name, "replica or master", TimeSpan.Zero);
        return node.Multiplexer!.GetDatabase(db);
    }

    /// <summary>
    /// Runs <paramref name="work"/> against the master, within <c>Resilience:OperationTimeout</c> and the master's
    /// circuit, with the configured durability (<see cref="RedisOptions.WaitReplicas"/>). While a failover is under way it
    /// waits (within the budget) for the new master. A write refused with READONLY (the node was demoted, nothing was
    /// written) or refused before it was sent is re-routed; a write cut off after it was sent throws
    /// <see cref="WriteOutcomeUnknownException"/> and is never retried.
    /// </summary>
    /// <param name="work">The write, on the master's <see cref="IDatabase"/>.</param>
    /// <param name="durability">After the work, <c>WAIT numreplicas timeout</c> runs on the same connection when this (or,
    /// when left default, <see cref="RedisOptions.WaitReplicas"/>) asks for replicas; fewer acknowledgements throw
    /// <see cref="ReplicationNotConfirmedException"/>.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public async Task<T> ExecuteWriteAsync<T>(Func<IDatabase, CancellationToken, Task<T>> work, WriteDurability durability = default, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (durability.IsDefault)
        {
            durability = new WriteDurability(_options.WaitReplicas, _options.WaitTimeout);
        }

        var deadline = new OperationDeadline(_time, _options.Resilience.OperationTimeout);
        Exception? last = null;
        for (var attempt = 0; ; attempt++)
        {
            var node = await WaitForMasterNodeAsync(deadline, last, cancellationToken).ConfigureAwait(false);
            var sent = new SentFlag();
            var context = new WorkContext<T>(node, work, durability, sent);
            try
            {
                return await RunAsync(node, context, deadline, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && RedisFailureClassifier.Classify(e) == FailureKind.ReadOnly)
            {
                // A demoted master refuses the write: nothing was written. Re-route.
                CountError(ErrorKinds.WriteRerouted);
                _monitor?.ReportMasterFailure(node, "READONLY reply");
                last = e;
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && (!sent.Value || IsNotSent(e)) && IsUnavailable(e))
            {
                // Refused before anything was sent (no connection, circuit open, the server is full): safe to re-route.
                CountError(e is BrokenCircuitException ? ErrorKinds.WriteCircuitOpen : ErrorKinds.WriteNotSent);
                OnFailure(node, e);
                last = e;
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && sent.Value && IsUnavailable(e))
            {
                OnFailure(node, e);
                CountError(ErrorKinds.WriteOutcomeUnknown);
                LogOutcomeUnknown(_logger, Name, node.Name, e.GetType().Name);
                throw new WriteOutcomeUnknownException(node.Name, e);
            }
            catch (ReplicationNotConfirmedException)
            {
                CountError(ErrorKinds.ReplicationNotConfirmed);
                throw;
            }

            if (attempt > 0 && _monitor is not null)
            {
                // Wait for the topology to move before trying again (bounded by the budget).
                await WaitForChangeAsync(_monitor.Changed, deadline, "master", last, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>After a failed call: a broken connection to the master is reported to the monitor (it re-verifies the
    /// master at once), any other endpoint failure wakes the monitor, and overload is counted and says nothing against
    /// the node.</summary>
    private void OnFailure(RedisNode node, Exception e)
    {
        switch (RedisFailureClassifier.Classify(e))
        {
            case FailureKind.EndpointFailure when e is RedisConnectionException or NodeNotConnectedException or BrokenCircuitException:
                _monitor?.ReportMasterFailure(node, e.GetType().Name);
                break;
            case FailureKind.EndpointFailure:
                _monitor?.RequestProbe();
                break;
            case FailureKind.Overload:
                CountError(ErrorKinds.Overload);
                break;
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> on a node allowed by <paramref name="preference"/>, within the operation budget and
    /// the node's circuit. A read that fails with a connection-level error is retried once on another node; then
    /// <see cref="ReadFailedException"/>. Do not write in <paramref name="work"/>.
    /// </summary>
    public async Task<T> ExecuteReadAsync<T>(Func<IDatabase, CancellationToken, Task<T>> work, RedisReadPreference preference = RedisReadPreference.ReplicaPreferred, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var deadline = new OperationDeadline(_time, _options.Resilience.OperationTimeout);
        RedisNode? exclude = null;
        Exception? last = null;
        for (var attempt = 0; attempt < 2; attempt++)
        {
            var node = await WaitForReaderAsync(preference, exclude, deadline, last, cancellationToken).ConfigureAwait(false);
            var context = new WorkContext<T>(node, work, WriteDurability.None, null);
            try
            {
                return await RunAsync(node, context, deadline, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && IsUnavailable(e))
            {
                CountError(e is BrokenCircuitException ? ErrorKinds.ReadCircuitOpen : ErrorKinds.ReadRetried);
                if (RedisFailureClassifier.Classify(e) == FailureKind.EndpointFailure)
                {
                    _monitor?.RequestProbe();
                }
                else
                {
                    CountError(ErrorKinds.Overload);
                }

                last = e;
                exclude = node;
            }
        }

        CountError(ErrorKinds.ReadFailed);
        throw new ReadFailedException(exclude!.Name, last);
    }

    private async Task<T> RunAsync<T>(RedisNode node, WorkContext<T> context, OperationDeadline deadline, CancellationToken cancellationToken)
    {
        // Counted where the decision is made, before the call, as for every store.
        HaClientTelemetry.RoutingDecisions.Add(1, _clusterTag, new("haclient.target_role", ReferenceEquals(node, _monitor?.Master) || _monitor is null ? "primary" : "replica"));
        // The call ends at the budget (Budget cancels the call's own token off the thread pool; no CancelAfter here),
        // when the caller cancels, or when the node is abandoned (a new master was adopted while this one hangs). A linked
        // source only when the caller's token can cancel; usually the node's abandon token alone does.
        var abandon = node.AbandonToken;
        using var linked = cancellationToken.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, abandon) : null;
        return await node.Circuit.ExecuteBoundedAsync(
            static (c, ct) => RunOnNodeAsync(c, ct),
            context,
            deadline,
            linked?.Token ?? abandon).ConfigureAwait(false);
    }

    private static async Task<T> RunOnNodeAsync<T>(WorkContext<T> c, CancellationToken cancellationToken)
    {
        var mux = c.Node.Multiplexer ?? throw new NodeNotConnectedException(c.Node.Name);
        var db = mux.GetDatabase();
        if (c.Sent is not null)
        {
            c.Sent.Value = true;
        }

        var result = await c.Work(db, cancellationToken).ConfigureAwait(false);
        if (c.Durability.Replicas > 0)
        {
            var timeoutMs = Math.Max(1, (long)c.Durability.Timeout.TotalMilliseconds);
            var acked = (long)await db.ExecuteAsync("WAIT", c.Durability.Replicas, timeoutMs).ConfigureAwait(false);
            if (acked < c.Durability.Replicas)
            {
                throw new ReplicationNotConfirmedException(c.Node.Name, c.Durability.Replicas, acked, c.Durability.Timeout);
            }
        }

        return result;
    }

    private RedisNode? SelectMaster()
    {
        if (_clusterNode is not null)
        {
            return _clusterNode.Multiplexer is not null && _clusterNode.Circuit.IsAvailable ? _clusterNode : null;
        }

        var m = _monitor!.Master;
        return m is not null && m.Multiplexer is not null && m.Circuit.IsAvailable ? m : null;
    }

    private RedisNode? SelectReader(RedisReadPreference preference, RedisNode? exclude)
    {
        if (_clusterNode is not null || preference == RedisReadPreference.Master)
        {
            var m = SelectMaster();
            return ReferenceEquals(m, exclude) ? null : m;
        }

        if (preference == RedisReadPreference.MasterPreferred && SelectMaster() is { } preferred && !ReferenceEquals(preferred, exclude))
        {
            return preferred;
        }

        var nodes = _monitor!.Nodes;
        var master = _monitor.Master;
        var rotation = Interlocked.Increment(ref _rotation);
        for (var i = 0; i < nodes.Count; i++)
        {
            var n = nodes[(int)((uint)(rotation + i) % (uint)nodes.Count)];
            if (ReferenceEquals(n, exclude) || ReferenceEquals(n, master) || n.State.Role != RedisNodeRole.Replica
                || n.Multiplexer is null || !n.Circuit.IsAvailable)
            {
                continue;
            }

            if (_monitor.LagBytes(n) is { } lag && lag <= _options.MaxLagBytes)
            {
                return n;
            }
        }

        if (_options.FallbackToMaster && master is not null && !ReferenceEquals(master, exclude) && master.Multiplexer is not null && master.Circuit.IsAvailable)
        {
            return master;
        }

        return null;
    }

    private async ValueTask<RedisNode> WaitForMasterNodeAsync(OperationDeadline deadline, Exception? last, CancellationToken cancellationToken)
    {
        while (true)
        {
            var changed = _monitor?.Changed ?? Task.Delay(_options.FailoverProbeInterval, _time, cancellationToken);
            if (SelectMaster() is { } node)
            {
                return node;
            }

            await WaitForChangeAsync(changed, deadline, "master", last, cancellationToken).ConfigureAwait(false);
        }
    }

    private async ValueTask<RedisNode> WaitForReaderAsync(RedisReadPreference preference, RedisNode? exclude, OperationDeadline deadline, Exception? last, CancellationToken cancellationToken)
    {
        while (true)
        {
            var changed = _monitor?.Changed ?? Task.Delay(_options.FailoverProbeInterval, _time, cancellationToken);
            if (SelectReader(preference, exclude) is { } node)
            {
                return node;
            }

            await WaitForChangeAsync(changed, deadline, preference == RedisReadPreference.Master ? "master" : "replica or master", last, cancellationToken).ConfigureAwait(false);
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

        _monitor?.RequestProbe();
        try
        {
            // Wake on a master change; re-check at least every few probe intervals (a breaker may have half-opened).
            await changed.WaitAsync(Min(remaining, _options.FailoverProbeInterval * 2), _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    /// <summary>SE.Redis refused the command because no connection could take it: it was never written to a socket.</summary>
    private static bool IsNotSent(Exception e) => e is RedisConnectionException { FailureType: ConnectionFailureType.UnableToResolvePhysicalConnection } || e is NodeNotConnectedException;

    /// <summary>Whether a call failed because its node could not serve it (an endpoint failure or overload), as opposed to
    /// an error reply about the command itself.</summary>
    private static bool IsUnavailable(Exception e) => RedisFailureClassifier.Classify(e) is FailureKind.EndpointFailure or FailureKind.Overload;

    private EndpointCircuit NewCircuit(string endpoint) => new(Name, endpoint, _options.Resilience, RedisFailureClassifier.Classify, _time);

    private ConfigurationOptions BaseConfig()
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
        return c;
    }

    private ConfigurationOptions NodeConfig(HostEndpoint endpoint)
    {
        var c = BaseConfig();
        c.EndPoints.Add(endpoint.Host, endpoint.Port);
        c.TieBreaker = string.Empty;
        return c;
    }

    private ConfigurationOptions SentinelConfig(HostEndpoint endpoint)
    {
        var c = BaseConfig();
        c.EndPoints.Add(endpoint.Host, endpoint.Port);
        c.CommandMap = CommandMap.Sentinel;
        c.TieBreaker = string.Empty;
        c.ClientName = "haclient-sentinel";
        return c;
    }

    private void CountError(string kind) => HaClientTelemetry.Errors.Add(1, _clusterTag, new("error.type", kind));

    IReadOnlyList<EndpointSnapshot> IEndpointStateSource.GetEndpointStates()
    {
        if (_monitor is null)
        {
            return [new EndpointSnapshot(_clusterNode!.Name, "cluster", null, _clusterNode.Circuit.State)];
        }

        var nodes = _monitor.Nodes;
        var result = new EndpointSnapshot[nodes.Count];
        for (var i = 0; i < nodes.Count; i++)
        {
            var n = nodes[i];
            var role = ReferenceEquals(n, _monitor.Master) ? "master" : RedisMonitor.RoleName(n.State.Role);
            result[i] = new EndpointSnapshot(n.Name, role, _monitor.LagSeconds(n), n.Circuit.State);
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

        if (_clusterNode is not null)
        {
            await _clusterNode.DisposeAsync().ConfigureAwait(false);
        }
    }

    [LoggerMessage(EventId = 2020, Level = LogLevel.Warning, Message = "Redis {Cluster}: write to {Endpoint} failed after it was sent ({Error}); its outcome is unknown and it was not retried")]
    private static partial void LogOutcomeUnknown(ILogger logger, string cluster, string endpoint, string error);

    private sealed class SentFlag
    {
        public volatile bool Value;
    }

    private sealed record WorkContext<T>(RedisNode Node, Func<IDatabase, CancellationToken, Task<T>> Work, WriteDurability Durability, SentFlag? Sent);
}
