using HaClient.Monitoring;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using HaClient.Resilience;
using HaClient.Telemetry;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace HaClient.Redis;

/// <summary>
/// Finds and follows the master, per the Redis Sentinel client guidelines: asks the Sentinels
/// (<c>SENTINEL get-master-addr-by-name</c>), verifies the candidate with <c>ROLE</c>, listens for
/// <c>+switch-master</c> on every Sentinel (own connections), and polls as a fallback: every
/// <see cref="RedisOptions.ProbeInterval"/>, every <see cref="RedisOptions.FailoverProbeInterval"/> while no master is
/// known, and at once when a request reports a READONLY reply or a connection failure. Without Sentinels the master is the
/// node whose <c>ROLE</c> says master. Every probe is bounded and each node has at most one probe in flight, so a frozen
/// node never delays the others. Nothing here blocks a thread.
/// </summary>
internal sealed partial class RedisMonitor : IAsyncDisposable
{
    private const int MaxSamples = 256;

    private readonly string _cluster;
    private readonly RedisOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Func<HostEndpoint, RedisNode> _createNode;
    private readonly ConcurrentDictionary<HostEndpoint, RedisNode> _nodes = new();
    private readonly SentinelLink[] _sentinels;
    private readonly ProbeWakeup _wake = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private readonly Queue<(long At, long Offset)> _masterSamples = new();
    private volatile RedisNode[] _nodeList = [];
    private volatile RedisNode? _master;
    private RedisNode? _lastMaster;
    private StrongBox<HostEndpoint>? _hintBox;

    private HostEndpoint? _hint
    {
        get => Volatile.Read(ref _hintBox)?.Value;
        set => Volatile.Write(ref _hintBox, value is { } v ? new StrongBox<HostEndpoint>(v) : null);
    }
    private TaskCompletionSource _changed = NewSignal();
    private TaskCompletionSource _firstRound = NewSignal();
    private long _lastMasterOffset = -1;
    private long _masterLostAt;
    private static readonly TimeSpan SelectionLifetime = TimeSpan.FromSeconds(30);

    /// <summary>How long a master Sentinel is failing over is kept from writes while its replica is promoted; after
    /// that (a failover that went nowhere) it is used again.</summary>
    private static readonly TimeSpan FailoverHold = TimeSpan.FromSeconds(2);
    private SelectedReplica? _selected;
    private Task? _loop;
    private bool _hadMaster;
    private bool _sentinelsSilent;

    public RedisMonitor(string cluster, RedisOptions options, ResolvedRedisSettings settings, Func<HostEndpoint, RedisNode> createNode, Func<HostEndpoint, ConfigurationOptions> sentinelConfig, ILogger logger, TimeProvider timeProvider)
    {
        _cluster = cluster;
        _options = options;
        _logger = logger;
        _time = timeProvider;
        _createNode = createNode;
        foreach (var e in settings.Endpoints)
        {
            GetOrAddNode(e);
        }

        _sentinels = settings.Sentinels.Select(s => new SentinelLink(s, sentinelConfig)).ToArray();
        _masterLostAt = _time.GetTimestamp();
    }

    public bool UsesSentinels => _sentinels.Length > 0;

    public RedisNode? Master => _master;

    public IReadOnlyList<RedisNode> Nodes => _nodeList;

    /// <summary>Completes at the next change of the master (replaced on every change).</summary>
    public Task Changed => Volatile.Read(ref _changed).Task;

    public long LastMasterOffset => Interlocked.Read(ref _lastMasterOffset);

    public void Start() => _loop = Task.Run(() => RunAsync(_stop.Token));

    public Task WaitForFirstRoundAsync(TimeSpan timeout, CancellationToken cancellationToken)
        => _firstRound.Task.WaitAsync(timeout, cancellationToken);

    /// <summary>Asks for a probe round now (a request saw a failure).</summary>
    public void RequestProbe() => _wake.Set();

    /// <summary>A write got READONLY or the master's connection failed: stop sending writes there until it is verified again.</summary>
    public void ReportMasterFailure(RedisNode node, string reason)
    {
        if (ReferenceEquals(_master, node))
        {
            LoseMaster(node, reason);
        }

        RequestProbe();
    }

    /// <summary>Replication lag of <paramref name="node"/> in bytes behind the last known master offset; null when unknown.</summary>
    public long? LagBytes(RedisNode node)
    {
        var s = node.State;
        var m = LastMasterOffset;
        if (s.Role == RedisNodeRole.Master && ReferenceEquals(node, _master))
        {
            return 0;
        }

        if (s.Offset < 0 || m < 0)
        {
            return null;
        }

        return Math.Max(0, m - s.Offset);
    }

    /// <summary>Replication lag in seconds, estimated from the master's offset history: how long ago the master first
    /// passed the replica's offset.</summary>
    public double? LagSeconds(RedisNode node)
    {
        var s = node.State;
        if (s.Role != RedisNodeRole.Replica || s.Offset < 0)
        {
            return s.Role == RedisNodeRole.Master ? 0 : null;
        }

        lock (_gate)
        {
            if (_masterSamples.Count == 0)
            {
                return null;
            }

            foreach (var (at, offset) in _masterSamples)
            {
                if (offset > s.Offset)
                {
                    return Math.Max(0, _time.GetElapsedTime(at, s.ProbedAt).TotalSeconds);
                }
            }
        }

        return 0;
    }

    private async Task RunAsync(CancellationToken stop)
    {
        foreach (var s in _sentinels)
        {
            _ = s.EnsureConnectedAsync(OnSentinelMessage);
        }

        while (!stop.IsCancellationRequested)
        {
            try
            {
                await ProbeRoundAsync(stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                LogRoundFailed(_logger, _cluster, e.GetType().Name, e.Message);
            }

            _firstRound.TrySetResult();
            var master = _master;
            var interval = master is null || master.State.Role != RedisNodeRole.Master || Volatile.Read(ref _selected) is not null ? _options.FailoverProbeInterval : _options.ProbeInterval;
            try
            {
                await _wake.WaitAsync(interval, _time, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private async Task ProbeRoundAsync(CancellationToken stop)
    {
        // Every known node, in parallel; results land in node.State as they arrive.
        foreach (var n in _nodeList)
        {
            _ = ProbeAsync(n);
        }

        RedisNode? chosen;
        if (UsesSentinels)
        {
            chosen = await ChooseFromSentinelsAsync(stop).ConfigureAwait(false);
        }
        else
        {
            chosen = await ChooseByRoleAsync().ConfigureAwait(false);
        }

        if (chosen is not null && !ReferenceEquals(chosen, _master))
        {
            await AdoptAsync(chosen).ConfigureAwait(false);
        }
        else if (chosen is null && _master is { } m)
        {
            LoseMaster(m, "no node verified as master");
        }
    }

    internal static string RoleName(RedisNodeRole role) => role switch
    {
        RedisNodeRole.Master => "master",
        RedisNodeRole.Replica => "replica",
        RedisNodeRole.Down => "down",
        _ => "unknown",
    };

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            try
            {
                await _loop.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            }
            catch (Exception)
            {
            }
        }

        foreach (var s in _sentinels)
        {
            await s.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var n in _nodeList)
        {
            await n.DisposeAsync().ConfigureAwait(false);
        }

        _stop.Dispose();
    }

    private sealed record SelectedReplica(HostEndpoint Replica, HostEndpoint From, long At);
}
