using Microsoft.Extensions.Logging;

namespace HaClient.Monitoring;

/// <summary>
/// Logs a split brain (several nodes claim primary) when it starts, every <see cref="RepeatEvery"/> while it lasts, and
/// when it ends, whether or not the chosen primary changes meanwhile. One per component; its monitor calls
/// <see cref="Observe"/> from one context (under its lock), once per view it publishes. Shared by every store.
/// </summary>
/// <param name="cluster">The component's logical name.</param>
/// <param name="logger">Where the lines go.</param>
/// <param name="time">The component's clock.</param>
public sealed partial class SplitBrainLog(string cluster, ILogger logger, TimeProvider time)
{
    /// <summary>How often a split brain that lasts is logged again.</summary>
    public static readonly TimeSpan RepeatEvery = TimeSpan.FromSeconds(10);

    private long _since;
    private long _loggedAt;

    /// <summary>Whether a split brain is under way (its start was logged and its end not yet).</summary>
    public bool IsActive => _since != 0;

    /// <summary>Notes the split-brain state of a new view; <paramref name="claims"/> (the claimants, for the log line) is
    /// evaluated only when a line is written.</summary>
    /// <param name="splitBrain">Whether several nodes claim primary now.</param>
    /// <param name="claims">Describes the claimants.</param>
    /// <param name="chosen">The node writes go to ("none" when none).</param>
    public void Observe(bool splitBrain, Func<string> claims, string chosen)
    {
        ArgumentNullException.ThrowIfNull(claims);
        var now = time.GetTimestamp();
        if (splitBrain && _since == 0)
        {
            _since = _loggedAt = now;
            LogStarted(logger, cluster, claims(), chosen);
        }
        else if (splitBrain && time.GetElapsedTime(_loggedAt, now) >= RepeatEvery)
        {
            _loggedAt = now;
            LogLasts(logger, cluster, time.GetElapsedTime(_since, now).TotalSeconds, claims(), chosen);
        }
        else if (!splitBrain && _since != 0)
        {
            LogEnded(logger, cluster, time.GetElapsedTime(_since, now).TotalSeconds, chosen);
            _since = 0;
        }
    }

    [LoggerMessage(EventId = 3001, Level = LogLevel.Error, Message = "{Cluster}: split brain, several nodes claim primary: {Claims}. Writes go only to {Chosen}")]
    private static partial void LogStarted(ILogger logger, string cluster, string claims, string chosen);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Error, Message = "{Cluster}: split brain for {Seconds:0} s, several nodes claim primary: {Claims}. Writes go only to {Chosen}")]
    private static partial void LogLasts(ILogger logger, string cluster, double seconds, string claims, string chosen);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "{Cluster}: split brain over after {Seconds:0.0} s; the only primary is {Chosen}")]
    private static partial void LogEnded(ILogger logger, string cluster, double seconds, string chosen);
}
