using Microsoft.Extensions.Logging;

namespace HaClient.Redis;

/// <summary>The monitor's source-generated log messages.</summary>
internal sealed partial class RedisTopologyMonitor
{
    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Redis {Cluster}: node {Endpoint} changed role from {From} to {To}")]
    private static partial void LogRoleChanged(ILogger logger, string cluster, string endpoint, RedisNodeRole from, RedisNodeRole to);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Warning, Message = "Redis {Cluster}: primary {Endpoint} lost ({Reason}); probing fast until a primary is verified")]
    private static partial void LogPrimaryLost(ILogger logger, string cluster, string endpoint, string reason);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "Redis {Cluster}: writes now go to primary {Endpoint} (was {Old})")]
    private static partial void LogPrimaryChosen(ILogger logger, string cluster, string endpoint, string old);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Information, Message = "Redis {Cluster}: Sentinel announced +switch-master {Old} -> {New}")]
    private static partial void LogSwitchMaster(ILogger logger, string cluster, string old, string @new);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Information, Message = "Redis {Cluster}: Sentinel selected replica {Endpoint} to replace primary {Primary}; probing fast")]
    private static partial void LogSelectedReplica(ILogger logger, string cluster, string endpoint, string primary);

    [LoggerMessage(EventId = 2012, Level = LogLevel.Warning, Message = "Redis {Cluster}: node {Endpoint} is down; released its {Count} calls in flight")]
    private static partial void LogAbandoned(ILogger logger, string cluster, string endpoint, int count);
}
