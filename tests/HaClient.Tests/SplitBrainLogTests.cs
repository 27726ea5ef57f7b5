using HaClient.Monitoring;
using HaClient.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace HaClient.Tests;

/// <summary>A split brain is logged when it starts, every 10 s while it lasts, and when it ends.</summary>
public class SplitBrainLogTests
{
    [Fact]
    public void Start_repeats_while_it_lasts_and_end_are_logged_and_nothing_else()
    {
        var time = new FakeTimeProvider();
        var logs = new RecordingLoggerFactory();
        var log = new SplitBrainLog("c", logs.CreateLogger("t"), time);
        var claimsAsked = 0;
        string Claims()
        {
            claimsAsked++;
            return "a:1 (timeline 1), b:1 (timeline 2)";
        }

        log.Observe(false, Claims, "a:1");
        Assert.Empty(logs.Entries);
        log.Observe(true, Claims, "b:1");
        Assert.Single(logs.Entries, e => e.Level == LogLevel.Error && e.Message.Contains("split brain, several nodes claim primary: a:1 (timeline 1), b:1 (timeline 2). Writes go only to b:1", StringComparison.Ordinal));
        for (var i = 0; i < 9; i++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            log.Observe(true, Claims, "b:1");
        }

        Assert.Single(logs.Entries);
        time.Advance(TimeSpan.FromSeconds(1));
        log.Observe(true, Claims, "b:1");
        Assert.Equal(2, logs.Entries.Count);
        Assert.Contains(logs.Entries, e => e.Message.Contains("split brain for 10 s", StringComparison.Ordinal));
        time.Advance(TimeSpan.FromSeconds(2.5));
        log.Observe(false, Claims, "b:1");
        Assert.Equal(3, logs.Entries.Count);
        Assert.Contains(logs.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("split brain over after 12.5 s; the only primary is b:1", StringComparison.Ordinal));
        log.Observe(false, Claims, "b:1");
        Assert.Equal(3, logs.Entries.Count);
        Assert.Equal(2, claimsAsked); // the claims are built only for the lines that name them
    }
}
