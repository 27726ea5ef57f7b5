using HaClient.Postgres;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace HaClient.Postgres.Tests.Unit;

/// <summary>The bound on opens in progress to a new primary, on a fake clock and with opens the test completes by hand.</summary>
public class ConnectionRampTests
{
    private readonly FakeTimeProvider _time = new();

    private sealed class Opens
    {
        public readonly List<TaskCompletionSource<int>> Started = [];

        public ValueTask<int> Open(CancellationToken cancellationToken)
        {
            var tcs = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (Started)
            {
                Started.Add(tcs);
            }

            return new ValueTask<int>(tcs.Task);
        }

        public int Count
        {
            get
            {
                lock (Started)
                {
                    return Started.Count;
                }
            }
        }
    }

    private static Task<int> Open(ConnectionRamp ramp, Opens opens, CancellationToken ct = default)
        => ramp.OpenAsync(static (o, c) => o.Open(c), opens, ct).AsTask();

    private static async Task WaitForAsync(Func<bool> condition)
    {
        for (var i = 0; i < 500 && !condition(); i++)
        {
            await Task.Delay(10);
        }

        Assert.True(condition());
    }

    [Fact]
    public async Task While_armed_only_the_limit_opens_at_once_and_the_rest_follow_in_turn()
    {
        var ramp = new ConnectionRamp(limit: 2, opensToPass: 40, TimeSpan.FromSeconds(5), _time);
        ramp.Arm();
        var opens = new Opens();
        var callers = Enumerable.Range(0, 5).Select(_ => Open(ramp, opens)).ToArray();
        await WaitForAsync(() => opens.Count == 2);
        Assert.Equal(2, opens.Count);
        opens.Started[0].SetResult(1);
        await WaitForAsync(() => opens.Count == 3);
        Assert.Equal(3, opens.Count);
        for (var i = 1; i < 5; i++)
        {
            await WaitForAsync(() => opens.Count > i);
            opens.Started[i].SetResult(1);
        }

        Assert.All(await Task.WhenAll(callers), r => Assert.Equal(1, r));
    }

    [Fact]
    public async Task Disarmed_opens_are_not_bounded()
    {
        var ramp = new ConnectionRamp(limit: 2, opensToPass: 40, TimeSpan.FromSeconds(5), _time);
        var opens = new Opens();
        var callers = Enumerable.Range(0, 10).Select(_ => Open(ramp, opens)).ToArray();
        Assert.Equal(10, opens.Count);
        opens.Started.ForEach(t => t.SetResult(1));
        await Task.WhenAll(callers);
    }

    [Fact]
    public async Task The_ramp_lifts_once_a_pool_s_worth_of_opens_has_passed()
    {
        var ramp = new ConnectionRamp(limit: 1, opensToPass: 3, TimeSpan.FromSeconds(5), _time);
        ramp.Arm();
        var opens = new Opens();
        for (var i = 0; i < 3; i++)
        {
            var caller = Open(ramp, opens);
            opens.Started[i].SetResult(1);
            await caller;
        }

        Assert.False(ramp.IsArmed);
        var burst = Enumerable.Range(0, 4).Select(_ => Open(ramp, opens)).ToArray();
        Assert.Equal(7, opens.Count);
        opens.Started.Skip(3).ToList().ForEach(t => t.SetResult(1));
        await Task.WhenAll(burst);
    }

    [Fact]
    public async Task The_ramp_lifts_after_its_longest_duration()
    {
        var ramp = new ConnectionRamp(limit: 1, opensToPass: 40, TimeSpan.FromSeconds(5), _time);
        ramp.Arm();
        _time.Advance(TimeSpan.FromSeconds(5));
        var opens = new Opens();
        var burst = Enumerable.Range(0, 3).Select(_ => Open(ramp, opens)).ToArray();
        Assert.Equal(3, opens.Count);
        Assert.False(ramp.IsArmed);
        opens.Started.ForEach(t => t.SetResult(1));
        await Task.WhenAll(burst);
    }

    [Fact]
    public async Task A_caller_waiting_its_turn_leaves_at_its_deadline_without_taking_a_turn()
    {
        var ramp = new ConnectionRamp(limit: 1, opensToPass: 40, TimeSpan.FromSeconds(5), _time);
        ramp.Arm();
        var opens = new Opens();
        var first = Open(ramp, opens);
        using var deadline = new CancellationTokenSource();
        var waiting = Open(ramp, opens, deadline.Token);
        deadline.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        Assert.Equal(1, opens.Count);
        opens.Started[0].SetResult(1);
        await first;
        var next = Open(ramp, opens);
        await WaitForAsync(() => opens.Count == 2);
        opens.Started[1].SetResult(2);
        Assert.Equal(2, await next);
    }

    [Fact]
    public void Without_a_limit_arming_does_nothing()
    {
        var ramp = new ConnectionRamp(limit: 0, opensToPass: 40, TimeSpan.FromSeconds(5), _time);
        ramp.Arm();
        Assert.False(ramp.IsArmed);
    }
}
