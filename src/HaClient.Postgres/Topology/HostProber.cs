using HaClient.Monitoring;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;

namespace HaClient.Postgres;

/// <summary>
/// Probes every host on a thread of its own, with synchronous I/O, so that the monitor never waits for a thread-pool
/// thread: on a 2-core machine under a burst of callers the pool is exactly what is short, and a probe that comes late
/// because the client is starved is no evidence against the server. A watchdog thread marks a host down once its probe
/// has run longer than <see cref="PostgresClusterOptions.ProbeTimeout"/>, not counting the time the watchdog itself was
/// kept from running (the client machine's own lateness).
/// </summary>
internal sealed partial class HostProber
{

    private readonly string _cluster;
    private readonly HostSlot[] _slots;
    private readonly PostgresClusterOptions _options;
    private readonly string? _password;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Action<HostSlot, PostgresHostState> _publish;
    private readonly Func<HostSlot, TimeSpan> _nextProbeIn;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _running;

    public HostProber(string cluster, HostSlot[] slots, PostgresClusterOptions options, TimeProvider time, ILogger logger, Action<HostSlot, PostgresHostState> publish, Func<HostSlot, TimeSpan> nextProbeIn)
    {
        _cluster = cluster;
        _slots = slots;
        _options = options;
        _password = new NpgsqlConnectionStringBuilder(options.ConnectionString).Password;
        _time = time;
        _logger = logger;
        _publish = publish;
        _nextProbeIn = nextProbeIn;
    }

    /// <summary>Completes when every probe thread and the watchdog have ended (after <c>stop</c> is cancelled).</summary>
    public Task Stopped => _stopped.Task;

    public void Start(CancellationToken stop)
    {
        _running = _slots.Length + 1;
        foreach (var slot in _slots)
        {
            StartThread($"HaClient probe {slot.Name}", () => Loop(slot, stop));
        }

        StartThread($"HaClient probe watchdog {_cluster}", () => Watchdog(stop));
    }

    private void StartThread(string name, Action body)
    {
        var thread = new Thread(() =>
        {
            try
            {
                body();
            }
            finally
            {
                if (Interlocked.Decrement(ref _running) == 0)
                {
                    _stopped.TrySetResult();
                }
            }
        })
        {
            IsBackground = true,
            Name = name,
        };
        thread.Start();
    }

    private void Loop(HostSlot slot, CancellationToken stop)
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var state = Probe(slot, stop);
                if (stop.IsCancellationRequested)
                {
                    break;
                }

                Publish(slot, state);
                if (!slot.Wake.Wait(_nextProbeIn(slot), _time, stop) && stop.IsCancellationRequested)
                {
                    break;
                }
            }
        }
        finally
        {
            DropConnection(slot);
            DropViaConnection(slot);
        }
    }

    private PostgresHostState Probe(HostSlot slot, CancellationToken stop)
    {
        var start = _time.GetTimestamp();
        Volatile.Write(ref slot.ProbeStarvedTicks, 0);
        Volatile.Write(ref slot.ProbeStartedAt, start);
        try
        {
            var connection = slot.ProbeConnection;
            if (connection is null)
            {
                connection = slot.ProbeConnection = slot.ProbeSource.OpenConnection();
                ReadSystemIdentifier(slot, connection);
            }

            var sent = _time.GetTimestamp();
            using var command = new NpgsqlCommand(ProbeSql, connection);
            using var reader = command.ExecuteReader();
            if (!reader.Read())
            {
                throw new InvalidOperationException("The probe returned no row.");
            }

            RecordRoundTrip(slot, _time.GetElapsedTime(sent));

            var inRecovery = reader.GetBoolean(0);
            var timeline = reader.IsDBNull(1) ? 0 : reader.GetInt32(1);
            var lsn = reader.IsDBNull(2) ? 0UL : (ulong)reader.GetFieldValue<NpgsqlLogSequenceNumber>(2);
            double? lag = inRecovery ? (reader.IsDBNull(3) ? null : Math.Max(0, reader.GetDouble(3))) : null;
            reader.Close();
            CheckPoolerPath(slot);
            slot.ProbeFailure = null;
            return new PostgresHostState(slot.Endpoint, inRecovery ? PostgresRole.Replica : PostgresRole.Primary, timeline, lsn, lag, _time.GetTimestamp(), _time.GetUtcNow(), _time.GetElapsedTime(start), null);
        }
        catch (Exception e) when (!stop.IsCancellationRequested)
        {
            var viaFailed = e is PoolerPathException;
            if (viaFailed)
            {
                e = e.InnerException!;
            }
            else
            {
                DropConnection(slot);
            }

            var previous = slot.ProbeFailure;
            slot.ProbeFailure = e;
            if (PostgresFailureClassifier.IsMisconfiguration(e) && (previous as PostgresException)?.SqlState != (e as PostgresException)?.SqlState)
            {
                // Logged once when it starts, not at every probe: nothing will succeed on this host until it is fixed.
                LogRefused(_logger, _cluster, slot.Name, Redact(e.Message));
            }

            var error = e is TimeoutException || e.InnerException is TimeoutException
                ? $"probe timed out after {_time.GetElapsedTime(start).TotalMilliseconds:0} ms"
                : $"{e.GetType().Name}: {Redact(e.Message)}";
            if (viaFailed)
            {
                error = $"through its pooler {slot.Via}: {error}";
            }

            LogProbeFailed(_logger, _cluster, slot.Name, error);
            return Down(slot, start, error);
        }
        catch (Exception)
        {
            // Stopping: the connection is being torn down under the probe.
            DropConnection(slot);
            DropViaConnection(slot);
            return slot.State;
        }
        finally
        {
            Volatile.Write(ref slot.ProbeStartedAt, 0);
            Volatile.Write(ref slot.ProbeOverdue, 0);
        }
    }

    /// <summary>Folds the probe's round trip (the query alone, not a connect) into the host's response time; a host that
    /// was down or not probed yet starts over from it.</summary>
    private static void RecordRoundTrip(HostSlot slot, TimeSpan roundTrip)
    {
        if (slot.State.Role is PostgresRole.Down or PostgresRole.Unknown)
        {
            HaClient.Routing.ResponseTime.Reset(ref slot.ResponseTicks, roundTrip);
        }
        else
        {
            HaClient.Routing.ResponseTime.Record(ref slot.ResponseTicks, roundTrip);
        }
    }

    /// <summary>A driver message with the password replaced, should a server or a driver ever echo it: the host state,
    /// health output and logs carry this text.</summary>
    private string Redact(string message)
        => string.IsNullOrEmpty(_password) || !message.Contains(_password, StringComparison.Ordinal) ? message : message.Replace(_password, "***", StringComparison.Ordinal);

    private PostgresHostState Down(HostSlot slot, long start, string error)
    {
        var last = slot.State;
        return new PostgresHostState(slot.Endpoint, PostgresRole.Down, last.Timeline, last.WalLsn, null, _time.GetTimestamp(), _time.GetUtcNow(), _time.GetElapsedTime(start), error);
    }

    /// <summary>
    /// Ticks every quarter of the probe timeout (5-50 ms). Each tick it measures how late it woke (the machine's own
    /// starvation) and charges that to every probe in flight; a probe in flight for longer than the timeout plus what it
    /// was charged marks its host down at once, without waiting for the driver's own timeout (whole seconds).
    /// </summary>
    private void Watchdog(CancellationToken stop)
    {
        var tick = TimeSpan.FromTicks(Math.Clamp(_options.ProbeTimeout.Ticks / 4, TimeSpan.FromMilliseconds(5).Ticks, TimeSpan.FromMilliseconds(50).Ticks));
        var frequency = _time.TimestampFrequency;
        var timeoutTicks = (long)(_options.ProbeTimeout.TotalSeconds * frequency);
        var tickTicks = (long)(tick.TotalSeconds * frequency);
        using var never = new ProbeWakeup();
        while (!stop.IsCancellationRequested)
        {
            var before = _time.GetTimestamp();
            never.Wait(tick, _time, stop);
            var now = _time.GetTimestamp();
            var late = Math.Max(0, now - before - tickTicks);
            foreach (var slot in _slots)
            {
                var started = Volatile.Read(ref slot.ProbeStartedAt);
                if (started == 0)
                {
                    continue;
                }

                var starved = Interlocked.Add(ref slot.ProbeStarvedTicks, late);
                if (now - started - starved > timeoutTicks && Interlocked.CompareExchange(ref slot.ProbeOverdue, 1, 0) == 0
                    && Volatile.Read(ref slot.ProbeStartedAt) == started)
                {
                    var error = $"probe timed out after {_options.ProbeTimeout.TotalMilliseconds:0} ms";
                    LogProbeFailed(_logger, _cluster, slot.Name, error);
                    Publish(slot, Down(slot, started, error));
                }
            }
        }
    }

    /// <summary>Publishes a probe result. A dedicated thread must never die of an exception: a failing
    /// <c>TopologyChanged</c> handler is logged and the thread goes on.</summary>
    private void Publish(HostSlot slot, PostgresHostState state)
    {
        try
        {
            _publish(slot, state);
        }
        catch (Exception e)
        {
            LogPublishFailed(_logger, _cluster, slot.Name, e);
        }
    }

    /// <summary>
    /// For a host whose requests go through a pooler the monitor does not watch: one <c>SELECT 1</c> through the pooler,
    /// after the server's own probe. The server answering proves nothing about the path requests take: a pooler that is
    /// gone, or that accepts but cannot reach its server (it then holds each client until its own
    /// <c>query_wait_timeout</c>), fails this check, or runs into the watchdog, and its host is down for routing.
    /// </summary>
    private static void CheckPoolerPath(HostSlot slot)
    {
        if (slot.ViaProbeSource is not { } source)
        {
            return;
        }

        try
        {
            var connection = slot.ViaProbeConnection ??= source.OpenConnection();
            using var command = new NpgsqlCommand("SELECT 1", connection);
            command.ExecuteScalar();
        }
        catch (Exception e)
        {
            DropViaConnection(slot);
            throw new PoolerPathException(e);
        }
    }

    /// <summary>Carries a failure of the pooler path out of the probe (unwrapped there).</summary>
    private sealed class PoolerPathException(Exception inner) : Exception(inner.Message, inner);

    private static void DropViaConnection(HostSlot slot)
    {
        var connection = slot.ViaProbeConnection;
        slot.ViaProbeConnection = null;
        try
        {
            connection?.Dispose();
        }
        catch (Exception)
        {
            // A broken connection may fail to close; it is gone either way.
        }
    }

    private static void DropConnection(HostSlot slot)
    {
        var connection = slot.ProbeConnection;
        slot.ProbeConnection = null;
        if (connection is null)
        {
            return;
        }

        try
        {
            connection.Dispose();
        }
        catch (Exception)
        {
            // A broken connection may fail to close; it is gone either way.
        }
    }

    [LoggerMessage(EventId = 1006, Level = LogLevel.Error, Message = "Cluster {Cluster}: publishing the probe of {Endpoint} failed (a TopologyChanged handler threw)")]
    private static partial void LogPublishFailed(ILogger logger, string cluster, string endpoint, Exception exception);

    [LoggerMessage(EventId = 1011, Level = LogLevel.Error, Message = "Cluster {Cluster}: {Endpoint} refuses the connection settings ({Reason}); no request can succeed on it until they are fixed")]
    private static partial void LogRefused(ILogger logger, string cluster, string endpoint, string reason);

    [LoggerMessage(EventId = 1015, Level = LogLevel.Warning, Message = "Cluster {Cluster}: {Endpoint} refuses pg_control_system(); its read-your-writes tokens carry no system identifier")]
    private static partial void LogNoSystemIdentifier(ILogger logger, string cluster, string endpoint);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Debug, Message = "Cluster {Cluster}: probe of {Endpoint} failed: {Error}")]
    private static partial void LogProbeFailed(ILogger logger, string cluster, string endpoint, string error);
}
