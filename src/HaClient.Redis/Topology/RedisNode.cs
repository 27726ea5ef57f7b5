using HaClient.Resilience;
using StackExchange.Redis;

namespace HaClient.Redis;

/// <summary>
/// One Redis node: its StackExchange.Redis multiplexer (a single endpoint, so a failover never leaves a stale
/// multiplexer that still believes in the old topology) and its circuit. Its probed state lives in the published
/// <see cref="RedisTopology"/>.
/// </summary>
internal sealed class RedisNode
{
    private readonly Func<HostEndpoint, ConfigurationOptions> _configure;
    private readonly Lock _gate = new();
    private Task<ConnectionMultiplexer>? _connecting;
    private volatile ConnectionMultiplexer? _mux;

    public RedisNode(HostEndpoint endpoint, EndpointCircuit circuit, Func<HostEndpoint, ConfigurationOptions> configure)
    {
        Endpoint = endpoint;
        Name = endpoint.ToString();
        Circuit = circuit;
        _configure = configure;
    }

    public HostEndpoint Endpoint { get; }

    public string Name { get; }

    public EndpointCircuit Circuit { get; }

    /// <summary>The node's zone (<see cref="RedisOptions.Zones"/>), or <see langword="null"/> when it is in none.</summary>
    public string? Zone { get; init; }

    /// <summary>Its zone rank for reads (<see cref="HaClient.Routing.ReadChoice.LocalRank"/> in the local zone, and for
    /// every node when no local zone is set).</summary>
    public int ZoneRank { get; init; }

    /// <summary>Whether it is in the local zone; <see langword="null"/> when no local zone is set.</summary>
    public bool? IsLocal { get; init; }

    /// <summary>Its recent <c>ROLE</c> round trip, smoothed (<see cref="HaClient.Routing.ResponseTime"/>,
    /// <see cref="TimeSpan"/> ticks; 0 before the first sample).</summary>
    public long ResponseTicks;

    /// <summary>Raised (on a StackExchange.Redis thread; keep it short) when a connection of this node fails or is restored.</summary>
    public Action<RedisNode>? ConnectionEvent { get; set; }

    /// <summary>The multiplexer once connected (null before the first connect or after a reset).</summary>
    public ConnectionMultiplexer? Multiplexer => _mux;

    /// <summary>The probe in flight, so a frozen node never has more than one probe waiting on it (set by the role
    /// prober under this node's lock).</summary>
    public Task<RedisNodeState>? Probe { get; set; }

    /// <summary>The failure of the latest probe, while it failed (null once a probe succeeds).</summary>
    public Exception? ProbeFailure { get => Volatile.Read(ref _probeFailure); set => Volatile.Write(ref _probeFailure, value); }

    private Exception? _probeFailure;

    /// <summary>The multiplexer, connecting it on first use. With <c>AbortOnConnectFail=false</c> this completes after at
    /// most the connect timeout even when the node is down; the multiplexer then reconnects by itself.</summary>
    public Task<ConnectionMultiplexer> GetMultiplexerAsync()
    {
        if (_mux is { } m)
        {
            return Task.FromResult(m);
        }

        lock (_gate)
        {
            if (_mux is { } m2)
            {
                return Task.FromResult(m2);
            }

            return _connecting ??= ConnectAsync();
        }
    }

    private async Task<ConnectionMultiplexer> ConnectAsync()
    {
        try
        {
            var mux = await ConnectionMultiplexer.ConnectAsync(_configure(Endpoint)).ConfigureAwait(false);
            if (ConnectionEvent is { } onEvent)
            {
                // A dropped connection (a crash, or Sentinel's CLIENT KILL when it promotes or demotes this node) or a
                // restored one says the topology may have moved: probe at once.
                mux.ConnectionFailed += (_, _) => onEvent(this);
                mux.ConnectionRestored += (_, _) => onEvent(this);
            }

            _mux = mux;
            return mux;
        }
        finally
        {
            lock (_gate)
            {
                _connecting = null;
            }
        }
    }

    /// <summary>Makes sure the multiplexer sees the node as a primary before writes are routed to it: it may still believe
    /// the node is a replica (it was one when it connected), so it re-reads the role, or reconnects. Every step is bounded
    /// by <paramref name="timeout"/>. Returns why it could not, or null.</summary>
    public async Task<string?> EnsurePrimaryViewAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource();
        try
        {
            var mux = await Budget.WithinAsync(GetMultiplexerAsync(), timeout, cts, CancellationToken.None).ConfigureAwait(false);
            if (!IsReplicaView(mux))
            {
                return null;
            }

            await Budget.WithinAsync(mux.ConfigureAsync(), timeout, cts, CancellationToken.None).ConfigureAwait(false);
            if (!IsReplicaView(mux))
            {
                return null;
            }

            ResetConnection();
            mux = await Budget.WithinAsync(GetMultiplexerAsync(), timeout, cts, CancellationToken.None).ConfigureAwait(false);
            return IsReplicaView(mux) ? "its connection still reports a replica" : null;
        }
        catch (Exception e)
        {
            return e.GetType().Name;
        }
    }

    private static bool IsReplicaView(ConnectionMultiplexer mux)
    {
        var servers = mux.GetServers();
        return servers.Length == 0 || !servers[0].IsConnected || servers[0].IsReplica;
    }

    /// <summary>Drops every connection to the node (an old master): commands still queued fail at once; the next use
    /// connects afresh. Never waits on the node.</summary>
    public void ResetConnection()
    {
        ConnectionMultiplexer? old;
        lock (_gate)
        {
            old = _mux;
            _mux = null;
        }

        // Calls still waiting on this node (a frozen old master) are released now rather than at the end of their budget.
        Circuit.AbandonInFlight();
        if (old is not null)
        {
            _ = CloseQuietlyAsync(old);
        }
    }

    private static async Task CloseQuietlyAsync(ConnectionMultiplexer mux)
    {
        try
        {
            await mux.CloseAsync(allowCommandsToComplete: false).WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Best effort: the node may be frozen.
        }

        try
        {
            await mux.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        }
        catch (Exception)
        {
        }
    }

    public async Task DisposeAsync()
    {
        ConnectionMultiplexer? mux;
        lock (_gate)
        {
            mux = _mux;
            _mux = null;
        }

        if (mux is not null)
        {
            await CloseQuietlyAsync(mux).ConfigureAwait(false);
        }
    }
}
