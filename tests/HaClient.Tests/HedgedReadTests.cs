using HaClient.Failover;
using HaClient.Resilience;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace HaClient.Tests.Unit;

/// <summary>Hedged reads on a fake topology and a fake clock: a read slower than the threshold is also sent to a second
/// node and the first answer wins, the loser is cancelled, and writes are never hedged.</summary>
public class HedgedReadTests
{
    private static readonly TimeSpan Hedge = TimeSpan.FromMilliseconds(50);
    private readonly FakeTimeProvider _time = new();
    private readonly FakeTopology _topology = new();

    private FailoverEngine<Node, string> Engine(TimeSpan? hedge) => new("t", "test", _topology, e => e is IOException ? FailureKind.EndpointFailure : FailureKind.ServerError, TimeSpan.FromSeconds(2), TimeSpan.FromMilliseconds(50), _time, NullLogger.Instance)
    {
        HedgeReadsAfter = hedge,
    };

    private async Task AdvanceAsync(TimeSpan by)
    {
        for (var i = 0; i < 4; i++)
        {
            await Task.Yield();
        }

        _time.Advance(by);
        for (var i = 0; i < 4; i++)
        {
            await Task.Yield();
        }
    }

    [Fact]
    public async Task A_read_slower_than_the_threshold_is_sent_to_a_second_node_whose_answer_wins_and_the_first_is_cancelled()
    {
        var (a, b) = (new Node("a"), new Node("b"));
        _topology.Readers = [a, b];
        var call = new ControlledCall();
        var read = Engine(Hedge).ExecuteReadAsync<string, ControlledCall>("any", call, CancellationToken.None);
        await AdvanceAsync(TimeSpan.FromMilliseconds(20));
        Assert.Equal(["a"], call.Started);
        await AdvanceAsync(TimeSpan.FromMilliseconds(40));
        Assert.True(await Wait.Poll(() => call.Started.Count == 2), "the read was not hedged");
        Assert.Equal(["a", "b"], call.Started);
        call.Complete("b");
        Assert.Equal("b", await read);
        Assert.True(await Wait.Poll(() => call.Token("a").IsCancellationRequested), "the slow leg was not cancelled");
    }

    [Fact]
    public async Task A_read_that_answers_within_the_threshold_is_not_hedged()
    {
        _topology.Readers = [new Node("a"), new Node("b")];
        var call = new ControlledCall();
        var read = Engine(Hedge).ExecuteReadAsync<string, ControlledCall>("any", call, CancellationToken.None);
        await AdvanceAsync(TimeSpan.FromMilliseconds(30));
        call.Complete("a");
        Assert.Equal("a", await read);
        await AdvanceAsync(TimeSpan.FromMilliseconds(100));
        Assert.Equal(["a"], call.Started);
    }

    [Fact]
    public async Task The_first_leg_still_wins_when_it_answers_after_the_hedge_started()
    {
        _topology.Readers = [new Node("a"), new Node("b")];
        var call = new ControlledCall();
        var read = Engine(Hedge).ExecuteReadAsync<string, ControlledCall>("any", call, CancellationToken.None);
        await AdvanceAsync(TimeSpan.FromMilliseconds(60));
        Assert.True(await Wait.Poll(() => call.Started.Count == 2));
        call.Fail("b", new IOException("b broke"));
        call.Complete("a");
        Assert.Equal("a", await read);
    }

    [Fact]
    public async Task Writes_are_never_hedged_and_hedging_is_off_by_default()
    {
        var (a, b) = (new Node("a"), new Node("b"));
        _topology.Writer = a;
        _topology.Readers = [a, b];
        var call = new ControlledCall();
        var write = Engine(Hedge).ExecuteWriteAsync<string, ControlledCall>(call, CancellationToken.None);
        await AdvanceAsync(TimeSpan.FromMilliseconds(200));
        Assert.Equal(["a"], call.Started);
        call.Complete("a");
        Assert.Equal("a", await write);

        Assert.Null(new EndpointResilienceOptions().HedgeReadsAfter);
        var unhedged = new ControlledCall();
        var read = Engine(null).ExecuteReadAsync<string, ControlledCall>("any", unhedged, CancellationToken.None);
        await AdvanceAsync(TimeSpan.FromMilliseconds(200));
        Assert.Equal(["a"], unhedged.Started);
        unhedged.Complete("a");
        Assert.Equal("a", await read);
    }

    [Fact]
    public async Task With_no_second_eligible_node_the_read_waits_for_the_first()
    {
        _topology.Readers = [new Node("a")];
        var call = new ControlledCall();
        var read = Engine(Hedge).ExecuteReadAsync<string, ControlledCall>("any", call, CancellationToken.None);
        await AdvanceAsync(TimeSpan.FromMilliseconds(100));
        Assert.Equal(["a"], call.Started);
        call.Complete("a");
        Assert.Equal("a", await read);
    }

    /// <summary>A call per endpoint that ends when the test says, and records the token each leg ran with.</summary>
    private sealed class ControlledCall : IEndpointCall<Node, string>
    {
        private readonly Dictionary<string, (TaskCompletionSource<string> Done, CancellationToken Token)> _legs = [];

        public List<string> Started { get; } = [];

        public CancellationToken Token(string node) { lock (_legs) { return _legs[node].Token; } }

        public void Complete(string node) { lock (_legs) { _legs[node].Done.TrySetResult(node); } }

        public void Fail(string node, Exception e) { lock (_legs) { _legs[node].Done.TrySetException(e); } }

        public ValueTask<string> RunAsync(Node endpoint, WriteProgress? progress, OperationDeadline deadline, CancellationToken cancellationToken)
        {
            var done = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            cancellationToken.Register(() => done.TrySetCanceled(cancellationToken));
            lock (_legs)
            {
                _legs[endpoint.Name] = (done, cancellationToken);
                Started.Add(endpoint.Name);
            }

            progress?.MarkSent();
            return new ValueTask<string>(done.Task);
        }
    }

    private static class Wait
    {
        /// <summary>Polls <paramref name="condition"/> for up to 5 s of real time (continuations run on the pool).</summary>
        public static async Task<bool> Poll(Func<bool> condition)
        {
            for (var i = 0; i < 500; i++)
            {
                if (condition())
                {
                    return true;
                }

                await Task.Delay(10);
            }

            return condition();
        }
    }
}
