using HaClient.Monitoring;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using HaClient.Resilience;
using HaClient.Telemetry;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace HaClient.Redis;

/// <summary>The monitor's log messages.</summary>
internal sealed partial class RedisMonitor
{
    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Redis {Cluster}: node {Endpoint} changed role from {From} to {To}")]
    private static partial void LogRoleChanged(ILogger logger, string cluster, string endpoint, RedisNodeRole from, RedisNodeRole to);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Warning, Message = "Redis {Cluster}: master {Endpoint} lost ({Reason}); probing fast until a master is verified")]
    private static partial void LogMasterLost(ILogger logger, string cluster, string endpoint, string reason);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "Redis {Cluster}: writes now go to master {Endpoint} (was {Old})")]
    private static partial void LogMasterChosen(ILogger logger, string cluster, string endpoint, string old);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Error, Message = "Redis {Cluster}: several nodes claim master: {Claims}")]
    private static partial void LogSplitBrain(ILogger logger, string cluster, string claims);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Debug, Message = "Redis {Cluster}: probe of {Endpoint} failed: {Error}")]
    private static partial void LogProbeFailed(ILogger logger, string cluster, string endpoint, string error);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Information, Message = "Redis {Cluster}: Sentinel announced +switch-master {Old} -> {New}")]
    private static partial void LogSwitchMaster(ILogger logger, string cluster, string old, string @new);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Warning, Message = "Redis {Cluster}: no Sentinel answered; keeping the master only while its ROLE says master")]
    private static partial void LogNoSentinel(ILogger logger, string cluster);

    [LoggerMessage(EventId = 2009, Level = LogLevel.Information, Message = "Redis {Cluster}: replica {Endpoint} of the lost master {Lost} was promoted; following it before the Sentinels announce it")]
    private static partial void LogFollowPromoted(ILogger logger, string cluster, string endpoint, string lost);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Information, Message = "Redis {Cluster}: Sentinel selected replica {Endpoint} to replace master {Master}; probing fast")]
    private static partial void LogSelectedReplica(ILogger logger, string cluster, string endpoint, string master);


    [LoggerMessage(EventId = 2011, Level = LogLevel.Warning, Message = "Redis {Cluster}: could not switch writes to {Endpoint} yet: {Error}")]
    private static partial void LogAdoptFailed(ILogger logger, string cluster, string endpoint, string error);

    [LoggerMessage(EventId = 2008, Level = LogLevel.Warning, Message = "Redis {Cluster}: probe round failed: {Error} {Message}")]
    private static partial void LogRoundFailed(ILogger logger, string cluster, string error, string message);
}
