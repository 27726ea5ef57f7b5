using HaClient.Failover;
using HaClient.Resilience;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace HaClient.Tests.Unit;

/// <summary>The engine's rules on a fake topology and a fake clock: what is re-routed, what is never retried, and how
/// long a caller waits for an endpoint.</summary>
public class FailoverEngineTests
{
    private readonly FakeTimeProvider _time = new();
    private readonly FakeTopology _topology = new();

    private FailoverEngine<Node, string> Engine() => new("t", "test", _topology, Classify, TimeSpan.FromSeconds(2), TimeSpan.FromMilliseconds(50), _time, NullLogger.Instance);

    /// <summary>IOException: endpoint failure; InsufficientExecutionStackException: overload; NotSupportedException:
    /// read-only; anything else: the server's own error.</summary>
    private static FailureKind Classify(Exception e) => e switch
    {
        IOException => FailureKind.EndpointFailure,
        InsufficientExecutionStackException => FailureKind.Overload,
        NotSupportedException => FailureKind.ReadOnly,
        _ => FailureKind.ServerError,
    };

    [Fact]
    public async Task A_write_refused_as_read_only_is_re_routed_to_the_new_primary()
    {
        var (a, b) = (new Node("a"), new Node("b"));
        _topology.Writer = a;
        _topology.OnNotPrimary = n => _topology.Writer = b;
        var call = new ScriptedCall(n => n == a ? Outcome.Fail(new NotSupportedException(), sent: false) : Outcome.Ok(n.Name));
        Assert.Equal("b", await Engine().ExecuteWriteAsync<string, ScriptedCall>(call, CancellationToken.None));
        Assert.Equal(["a", "b"], call.Calls);
        Assert.Equal(["a"], _topology.NotPrimary);
    }

    [Fact]
    public async Task A_write_that_failed_before_it_was_sent_is_re_routed_at_most_three_times_then_is_safe_to_retry()
    {
        var a = new Node("a");
        _topology.Writer = a;
        var call = new ScriptedCall(_ => Outcome.Fail(new IOException(), sent: false));
        var pending = Engine().ExecuteWriteAsync<string, ScriptedCall>(call, CancellationToken.None);
        // Each re-route to the same endpoint waits for a topology change or the re-check interval.
        for (var i = 0; i < 10 && !pending.IsCompleted; i++)
        {
            await Task.Yield();
            _time.Advance(TimeSpan.FromMilliseconds(50));
        }

        var e = await Assert.ThrowsAsync<NoEligibleEndpointException>(() => pending);
        Assert.True(e.IsSafeToRetry);
        Assert.IsType<IOException>(e.InnerException);
        Assert.Equal(FailoverEngine<Node, string>.MaxWriteAttempts, call.Calls.Count);
        Assert.Equal(3, _topology.EndpointFailures.Count);
    }

    [Fact]
    public async Task A_write_that_failed_after_it_was_sent_is_never_retried()
    {
        _topology.Writer = new Node("a");
        var call = new ScriptedCall(_ => Outcome.Fail(new IOException(), sent: true));
        var e = await Assert.ThrowsAsync<WriteOutcomeUnknownException>(() => Engine().ExecuteWriteAsync<string, ScriptedCall>(call, CancellationToken.None));
        Assert.False(e.IsSafeToRetry);
        Assert.Equal("a", e.Endpoint);
        Assert.Single(call.Calls);
    }

    [Fact]
    public async Task A_write_that_met_overload_after_it_was_sent_is_unknown_and_says_nothing_against_the_endpoint()
    {
        _topology.Writer = new Node("a");
        var call = new ScriptedCall(_ => Outcome.Fail(new InsufficientExecutionStackException(), sent: true));
        await Assert.ThrowsAsync<WriteOutcomeUnknownException>(() => Engine().ExecuteWriteAsync<string, ScriptedCall>(call, CancellationToken.None));
        Assert.Empty(_topology.EndpointFailures);
    }

    [Fact]
    public async Task A_server_error_reaches_the_caller_unchanged_and_is_not_retried()
    {
        _topology.Writer = new Node("a");
        var call = new ScriptedCall(_ => Outcome.Fail(new InvalidOperationException("constraint"), sent: true));
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => Engine().ExecuteWriteAsync<string, ScriptedCall>(call, CancellationToken.None));
        Assert.Equal("constraint", e.Message);
        Assert.Single(call.Calls);
        Assert.Empty(_topology.EndpointFailures);
    }

    [Fact]
    public async Task A_caller_waits_for_a_primary_and_goes_as_soon_as_the_topology_names_one()
    {
        var engine = Engine();
        var call = new ScriptedCall(n => Outcome.Ok(n.Name));
        var pending = engine.ExecuteWriteAsync<string, ScriptedCall>(call, CancellationToken.None);
        _time.Advance(TimeSpan.FromMilliseconds(500));
        Assert.False(pending.IsCompleted);
        _topology.Writer = new Node("b");
        _topology.Change();
        Assert.Equal("b", await pending);
        Assert.True(_topology.ProbeRequests > 0);
    }

    [Fact]
    public async Task A_caller_that_finds_no_primary_is_released_at_its_deadline()
    {
        var t0 = _time.GetTimestamp();
        var pending = Engine().ExecuteWriteAsync<string, ScriptedCall>(new ScriptedCall(n => Outcome.Ok(n.Name)), CancellationToken.None);
        for (var i = 0; i < 100 && !pending.IsCompleted; i++)
        {
            await Task.Yield();
            _time.Advance(TimeSpan.FromMilliseconds(50));
        }

        var e = await Assert.ThrowsAsync<NoEligibleEndpointException>(() => pending);
        Assert.Equal("primary", e.Target);
        Assert.InRange(_time.GetElapsedTime(t0), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(2.1));
    }

    [Fact]
    public async Task A_read_is_retried_once_on_another_endpoint()
    {
        var (a, b) = (new Node("a"), new Node("b"));
        _topology.Readers = [a, b];
        var call = new ScriptedCall(n => n == a ? Outcome.Fail(new IOException(), sent: false) : Outcome.Ok(n.Name));
        Assert.Equal("b", await Engine().ExecuteReadAsync<string, ScriptedCall>("any", call, CancellationToken.None));
        Assert.Equal(["a", "b"], call.Calls);
    }

    [Fact]
    public async Task A_read_that_fails_twice_is_a_read_failure_naming_the_last_endpoint()
    {
        var (a, b) = (new Node("a"), new Node("b"));
        _topology.Readers = [a, b];
        var call = new ScriptedCall(_ => Outcome.Fail(new IOException(), sent: false));
        var e = await Assert.ThrowsAsync<ReadFailedException>(() => Engine().ExecuteReadAsync<string, ScriptedCall>("any", call, CancellationToken.None));
        Assert.Equal("b", e.Endpoint);
        Assert.Equal(2, call.Calls.Count);
    }

    private readonly record struct Outcome(string? Value, Exception? Error, bool Sent)
    {
        public static Outcome Ok(string value) => new(value, null, false);

        public static Outcome Fail(Exception e, bool sent) => new(null, e, sent);
    }

    private sealed class ScriptedCall(Func<Node, Outcome> script) : IEndpointCall<Node, string>
    {
        public List<string> Calls { get; } = [];

        public ValueTask<string> RunAsync(Node endpoint, WriteProgress? progress, OperationDeadline deadline, CancellationToken cancellationToken)
        {
            Calls.Add(endpoint.Name);
            var o = script(endpoint);
            if (o.Sent)
            {
                progress?.MarkSent();
            }

            return o.Error is null ? ValueTask.FromResult(o.Value!) : ValueTask.FromException<string>(o.Error);
        }
    }
}
