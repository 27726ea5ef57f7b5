using Microsoft.Extensions.Logging;

namespace HaClient.Postgres;

/// <summary>The monitor's log messages (source-generated).</summary>
internal sealed partial class TopologyMonitor
{
    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Cluster {Cluster}: host {Endpoint} changed role from {From} to {To}")]
    private static partial void LogRoleChanged(ILogger logger, string cluster, string endpoint, PostgresRole from, PostgresRole to);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Warning, Message = "Cluster {Cluster}: primary {Endpoint} lost; probing every host until a new primary appears")]
    private static partial void LogPrimaryLost(ILogger logger, string cluster, string endpoint);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Information, Message = "Cluster {Cluster}: writes now go to {Endpoint} (timeline {Timeline})")]
    private static partial void LogPrimaryChosen(ILogger logger, string cluster, string endpoint, int timeline);

    [LoggerMessage(EventId = 1007, Level = LogLevel.Warning, Message = "Cluster {Cluster}: host {Endpoint} is down; cancelled its {Count} calls in flight")]
    private static partial void LogAbandoned(ILogger logger, string cluster, string endpoint, int count);
}
