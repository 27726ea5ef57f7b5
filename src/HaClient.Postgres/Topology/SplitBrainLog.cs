using Microsoft.Extensions.Logging;

namespace HaClient.Postgres;

/// <summary>
/// Logs a split brain (several hosts claim primary) when it starts, every <see cref="RepeatEvery"/> while it lasts, and
/// when it ends, whether or not the chosen primary changes meanwhile. Called by the monitor under its lock, once per
/// published view.
/// </summary>
internal sealed partial class SplitBrainLog(string cluster, ILogger logger, TimeProvider time)
{
    /// <summary>How often a split brain that lasts is logged again.</summary>
    public static readonly TimeSpan RepeatEvery = TimeSpan.FromSeconds(10);

    private long _since;
    private long _loggedAt;

    /// <summary>Notes the split-brain state of a new view; <paramref name="claims"/> is evaluated only when logging.</summary>
    public void Observe(bool splitBrain, Func<string> claims, string chosen)
    {
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

    [LoggerMessage(EventId = 1004, Level = LogLevel.Error, Message = "Cluster {Cluster}: split brain, several hosts claim primary: {Claims}. Writes go only to {Chosen}")]
    private static partial void LogStarted(ILogger logger, string cluster, string claims, string chosen);

    [LoggerMessage(EventId = 1008, Level = LogLevel.Error, Message = "Cluster {Cluster}: split brain for {Seconds:0} s, several hosts claim primary: {Claims}. Writes go only to {Chosen}")]
    private static partial void LogLasts(ILogger logger, string cluster, double seconds, string claims, string chosen);

    [LoggerMessage(EventId = 1009, Level = LogLevel.Warning, Message = "Cluster {Cluster}: split brain over after {Seconds:0.0} s; the only primary is {Chosen}")]
    private static partial void LogEnded(ILogger logger, string cluster, double seconds, string chosen);
}
