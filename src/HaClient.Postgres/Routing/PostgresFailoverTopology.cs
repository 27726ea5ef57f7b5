using HaClient.Failover;

namespace HaClient.Postgres;

/// <summary>The cluster as the failover engine sees it: the pure <see cref="Router"/> over the monitor's latest state,
/// and the monitor as the place failures are reported to.</summary>
internal sealed class PostgresFailoverTopology(HostSlot[] slots, TopologyMonitor monitor, PostgresClusterOptions options, TimeProvider time)
    : IFailoverTopology<HostSlot, ReadConsistency>
{
    private readonly bool _localOnly = options.LocalZone is not null && options.ZonePolicy == HaClient.Routing.ZonePolicy.LocalOnly;
    private int _rotation;

    public Task Changed => monitor.Changed;

    public HostSlot? SelectWriter()
    {
        var i = Router.SelectPrimary(slots, monitor.PrimaryIndex);
        return i >= 0 ? slots[i] : null;
    }

    public HostSlot? SelectReader(ReadConsistency intent, HostSlot? exclude)
    {
        var rotation = Interlocked.Increment(ref _rotation);
        var i = Router.SelectReader(slots, monitor.PrimaryIndex, intent, options.ReplicaLag, options.FallbackToPrimary, time.GetTimestamp(), time.TimestampFrequency, exclude?.Index ?? -1, rotation, _localOnly);
        return i >= 0 ? slots[i] : null;
    }

    public bool IsPrimary(HostSlot endpoint) => endpoint.Index == monitor.PrimaryIndex;

    public bool? IsInLocalZone(HostSlot endpoint) => endpoint.IsLocal;

    public string NameOf(HostSlot endpoint) => endpoint.Name;

    public void RequestProbe() => monitor.RequestProbe();

    public void ReportNotPrimary(HostSlot endpoint) => monitor.ReportNotPrimary(endpoint);

    public void ReportEndpointFailure(HostSlot endpoint, Exception failure)
    {
        if (IsShutdown(failure))
        {
            monitor.ReportShuttingDown(endpoint);
            return;
        }

        monitor.RequestProbe();
    }

    /// <summary>Whether <paramref name="failure"/> is the server saying it is shutting down (class <c>57P</c>: admin or
    /// crash shutdown, cannot connect now).</summary>
    internal static bool IsShutdown(Exception failure)
        => failure is Npgsql.PostgresException { SqlState: "57P01" or "57P02" or "57P03" };

    /// <summary>The probes' failure that explains an empty choice best: a server's refusal (credentials, database) over a
    /// network error.</summary>
    public Exception? CurrentFailure => ProbeFailures.MostTelling(slots, static s => s.ProbeFailure, static e => e is Npgsql.PostgresException);

    // Npgsql sends a command as soon as it has a connection: once the work started, nothing proves it was not sent.
    public bool ProvesNotSent(Exception failure) => false;
}
