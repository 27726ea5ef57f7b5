using HaClient.Monitoring;
using HaClient.Resilience;
using Npgsql;

namespace HaClient.Postgres;

/// <summary>One host as the cluster holds it: its user pool, its monitor connection, its breaker, its latest state and
/// its requests in flight.</summary>
internal sealed class HostSlot
{
    private PostgresHostState _state;

    public HostSlot(int index, HostEndpoint endpoint, NpgsqlDataSource pool, NpgsqlDataSource probeSource, EndpointCircuit circuit, ConnectionRamp? ramp = null, HostEndpoint? via = null, NpgsqlDataSource? viaProbeSource = null)
    {
        Ramp = ramp ?? ConnectionRamp.None;
        Index = index;
        Endpoint = endpoint;
        Via = via;
        ViaProbeSource = viaProbeSource;
        Name = new PostgresHostAddress(endpoint, via).ToString();
        Pool = pool;
        ProbeSource = probeSource;
        Circuit = circuit;
        _state = PostgresHostState.Initial(endpoint);
        _state.Circuit = circuit;
        _state.Slot = this;
    }

    public int Index { get; }

    /// <summary>The server: the address the monitor watches, and the host's identity (topology, Patroni, health).</summary>
    public HostEndpoint Endpoint { get; }

    /// <summary>The pooler requests go through, or <see langword="null"/> when they go to <see cref="Endpoint"/>.</summary>
    public HostEndpoint? Via { get; }

    /// <summary>Whether requests go through a pooler, which does not pass the server's <c>in_hot_standby</c> on.</summary>
    public bool IsPooled => Via is not null;

    /// <summary>Unpooled source of the monitor's check of the pooler path (<see langword="null"/> when there is no pooler,
    /// or the monitor already watches the pooler).</summary>
    public NpgsqlDataSource? ViaProbeSource { get; }

    /// <summary>The monitor's open connection through the pooler, owned by the probe thread.</summary>
    public NpgsqlConnection? ViaProbeConnection { get; set; }

    /// <summary>host:port (<c>server via pooler</c> for a pooled host), for logs, metrics and errors.</summary>
    public string Name { get; }

    /// <summary>The pool user requests use.</summary>
    public NpgsqlDataSource Pool { get; }

    /// <summary>Bounds the opens in progress while the host is new as primary (armed by the monitor).</summary>
    public ConnectionRamp Ramp { get; }

    /// <summary>A connection from <see cref="Pool"/>, through <see cref="Ramp"/>.</summary>
    public ValueTask<NpgsqlConnection> OpenConnectionAsync(CancellationToken cancellationToken)
        => Ramp.OpenAsync(static (pool, ct) => pool.OpenConnectionAsync(ct), Pool, cancellationToken);

    /// <summary>Unpooled source of the monitor's own connection.</summary>
    public NpgsqlDataSource ProbeSource { get; }

    public EndpointCircuit Circuit { get; }

    /// <summary>The latest probe.</summary>
    public PostgresHostState State
    {
        get => Volatile.Read(ref _state);
        set
        {
            value.Circuit = Circuit;
            value.Slot = this;
            Volatile.Write(ref _state, value);
        }
    }

    /// <summary>The failure of the latest probe, while it failed (null once a probe succeeds).</summary>
    public volatile Exception? ProbeFailure;

    /// <summary>Requests in flight on this host (for least-busy replica choice).</summary>
    public int InFlight;

    /// <summary>The host's zone (<see cref="PostgresClusterOptions.Zones"/>), or <see langword="null"/> when it is in none.</summary>
    public string? Zone { get; init; }

    /// <summary>Its zone rank for reads (<see cref="HaClient.Routing.ReadChoice.LocalRank"/> in the local zone, and for
    /// every host when no local zone is set).</summary>
    public int ZoneRank { get; init; }

    /// <summary>Whether it is in the local zone; <see langword="null"/> when no local zone is set.</summary>
    public bool? IsLocal { get; init; }

    /// <summary>Its recent response time, smoothed (<see cref="HaClient.Routing.ResponseTime"/>, <see cref="TimeSpan"/>
    /// ticks; 0 before the first sample): from probe round trips and reads' durations.</summary>
    public long ResponseTicks;

    /// <summary>When the probe in flight started (<see cref="TimeProvider"/> timestamp), 0 while none is.</summary>
    public long ProbeStartedAt;

    /// <summary>How long the probe in flight has been kept waiting by the client machine itself (the watchdog's own
    /// lateness, in timestamp ticks): not held against the server.</summary>
    public long ProbeStarvedTicks;

    /// <summary>1 once the watchdog has marked the probe in flight as timed out.</summary>
    public int ProbeOverdue;

    /// <summary>The monitor's open connection, owned by the probe thread.</summary>
    public NpgsqlConnection? ProbeConnection { get; set; }

    /// <summary>Set to make the probe loop probe at once.</summary>
    public ProbeWakeup Wake { get; } = new();

    /// <summary>Set while Patroni answers and names another member leader.</summary>
    public volatile bool PatroniVeto;

    /// <summary>The server's system identifier (<c>pg_control_system()</c>), read once per probe connection (a server
    /// re-created at the address restarts, which breaks that connection); 0 until known, or where the function is not
    /// allowed. Read-your-writes tokens carry it, and a token of another identifier is ignored.</summary>
    public ulong SystemIdentifier
    {
        get => Volatile.Read(ref _systemIdentifier);
        set => Volatile.Write(ref _systemIdentifier, value);
    }

    private ulong _systemIdentifier;
}
