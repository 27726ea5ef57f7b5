using HaClient.Failover;
using HaClient.Resilience;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace HaClient.Tests.Unit;

/// <summary>The engine's outcome rules for writes that run in their own transaction: a failure before the commit is
/// "not committed", after it the store's resolver decides, and only what no server can tell stays unknown. Fake
/// topology, fake resolver, fake clock.</summary>
public class WriteOutcomeTests
{
    private static readonly object Evidence = new();
    private readonly FakeTimeProvider _time = new();
    private readonly FakeTopology _topology = new();
    private readonly FakeResolver _resolver = new();

    private FailoverEngine<Node, string> Engine() => new("t", "test", _topology, e => e is IOException ? FailureKind.EndpointFailure : e is TimeoutException ? FailureKind.Overload : FailureKind.ServerError, TimeSpan.FromSeconds(2), TimeSpan.FromMilliseconds(50), _time, NullLogger.Instance)
    {
        CommitResolver = _resolver,
    };

    [Fact]
    public async Task A_transaction_cut_before_its_commit_was_sent_did_not_commit_and_says_so()
    {
        _topology.Writer = new Node("a");
        var call = new TransactionCall(_ => Step.FailBeforeCommit);
        var e = await Assert.ThrowsAsync<WriteNotCommittedException>(() => Engine().ExecuteWriteAsync<string, TransactionCall>(call, WriteRetry.None, CancellationToken.None));
        Assert.True(e.IsSafeToRetry);
        Assert.Equal("a", e.Endpoint);
        Assert.Equal(["a"], call.Calls);
        Assert.Empty(_resolver.Asked);
    }

    [Fact]
    public async Task The_caller_s_deadline_before_the_commit_is_not_committed_rather_than_unknown()
    {
        _topology.Writer = new Node("a");
        var call = new TransactionCall(_ => Step.FailBeforeCommit, new TimeoutException());
        await Assert.ThrowsAsync<WriteNotCommittedException>(() => Engine().ExecuteWriteAsync<string, TransactionCall>(call, WriteRetry.None, CancellationToken.None));
    }

    [Fact]
    public async Task With_retry_a_transaction_that_did_not_commit_runs_again_on_the_new_primary()
    {
        var (a, b) = (new Node("a"), new Node("b"));
        _topology.Writer = a;
        var call = new TransactionCall(n => n == a ? Step.FailBeforeCommit : Step.Commit);
        var pending = Engine().ExecuteWriteAsync<string, TransactionCall>(call, WriteRetry.WhenNotCommitted, CancellationToken.None);
        _topology.Writer = b;
        _topology.Change();
        Assert.Equal("b", await pending);
        Assert.Equal(["a", "b"], call.Calls);
    }

    [Fact]
    public async Task A_commit_whose_reply_was_lost_is_resolved_on_the_new_primary_and_returns_the_work_s_result()
    {
        var (a, b) = (new Node("a"), new Node("b"));
        _topology.Writer = a;
        _topology.OnEndpointFailure = _ => _topology.Writer = b;
        _resolver.Script = _ => CommitVerdict.Committed;
        var call = new TransactionCall(_ => Step.FailAfterCommit);
        Assert.Equal("a", await Engine().ExecuteWriteAsync<string, TransactionCall>(call, WriteRetry.None, CancellationToken.None));
        Assert.Equal(["b"], _resolver.Asked);
        Assert.Equal(["a"], call.Calls);
    }

    [Theory]
    [InlineData(WriteRetry.None)]
    [InlineData(WriteRetry.WhenNotCommitted)]
    public async Task A_lost_commit_resolved_as_not_committed_fails_safe_to_retry_or_runs_again(WriteRetry retry)
    {
        var (a, b) = (new Node("a"), new Node("b"));
        _topology.Writer = a;
        _topology.OnEndpointFailure = _ => _topology.Writer = b;
        _resolver.Script = _ => CommitVerdict.NotCommitted;
        var call = new TransactionCall(n => n == a ? Step.FailAfterCommit : Step.Commit);
        var pending = Engine().ExecuteWriteAsync<string, TransactionCall>(call, retry, CancellationToken.None);
        if (retry == WriteRetry.None)
        {
            await Assert.ThrowsAsync<WriteNotCommittedException>(() => pending);
            Assert.Equal(["a"], call.Calls);
        }
        else
        {
            Assert.Equal("b", await pending);
            Assert.Equal(["a", "b"], call.Calls);
        }
    }

    [Fact]
    public async Task A_commit_the_store_cannot_resolve_stays_unknown_and_is_never_retried()
    {
        _topology.Writer = new Node("a");
        _resolver.Script = _ => CommitVerdict.Unknowable;
        var call = new TransactionCall(_ => Step.FailAfterCommit);
        await Assert.ThrowsAsync<WriteOutcomeUnknownException>(() => Engine().ExecuteWriteAsync<string, TransactionCall>(call, WriteRetry.WhenNotCommitted, CancellationToken.None));
        Assert.Single(call.Calls);
    }

    [Fact]
    public async Task A_commit_still_in_progress_is_asked_again_until_the_deadline_then_is_unknown()
    {
        _topology.Writer = new Node("a");
        _resolver.Script = _ => CommitVerdict.NotYet;
        var t0 = _time.GetTimestamp();
        var pending = Engine().ExecuteWriteAsync<string, TransactionCall>(new TransactionCall(_ => Step.FailAfterCommit), WriteRetry.WhenNotCommitted, CancellationToken.None);
        for (var i = 0; i < 100 && !pending.IsCompleted; i++)
        {
            await Task.Yield();
            _time.Advance(TimeSpan.FromMilliseconds(50));
        }

        await Assert.ThrowsAsync<WriteOutcomeUnknownException>(() => pending);
        Assert.InRange(_time.GetElapsedTime(t0), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(2.1));
        Assert.True(_resolver.Asked.Count > 10, $"asked {_resolver.Asked.Count} times");
    }

    [Fact]
    public async Task Resolution_waits_through_a_failover_and_asks_again_after_a_failed_question()
    {
        var (a, b) = (new Node("a"), new Node("b"));
        _topology.Writer = a;
        _topology.OnEndpointFailure = n => _topology.Writer = n == a ? null : _topology.Writer;
        var answers = new Queue<Func<CommitVerdict>>([() => throw new IOException(), () => CommitVerdict.Committed]);
        _resolver.Script = _ => answers.Dequeue()();
        var pending = Engine().ExecuteWriteAsync<string, TransactionCall>(new TransactionCall(_ => Step.FailAfterCommit), WriteRetry.None, CancellationToken.None);
        _time.Advance(TimeSpan.FromMilliseconds(300));
        Assert.False(pending.IsCompleted); // no primary yet: nobody was asked
        Assert.Empty(_resolver.Asked);
        _topology.Writer = b;
        _topology.Change();
        for (var i = 0; i < 20 && !pending.IsCompleted; i++)
        {
            await Task.Yield();
            _time.Advance(TimeSpan.FromMilliseconds(50));
        }

        Assert.Equal("a", await pending);
        Assert.Equal(["b", "b"], _resolver.Asked);
    }

    [Fact]
    public async Task Without_a_resolver_a_lost_commit_is_unknown()
    {
        _topology.Writer = new Node("a");
        var engine = new FailoverEngine<Node, string>("t", "test", _topology, _ => FailureKind.EndpointFailure, TimeSpan.FromSeconds(2), TimeSpan.FromMilliseconds(50), _time, NullLogger.Instance);
        await Assert.ThrowsAsync<WriteOutcomeUnknownException>(() => engine.ExecuteWriteAsync<string, TransactionCall>(new TransactionCall(_ => Step.FailAfterCommit), WriteRetry.WhenNotCommitted, CancellationToken.None));
    }

    [Fact]
    public void The_commit_and_the_engine_s_giving_up_are_one_atomic_choice()
    {
        var given = new WriteProgress();
        given.MarkSent();
        given.MarkInTransaction();
        Assert.True(given.TryAbandonBeforeCommit());
        Assert.False(given.TryMarkCommitSent(Evidence, "r")); // the call must roll back
        Assert.False(given.CommitSent);

        var committing = new WriteProgress();
        committing.MarkSent();
        committing.MarkInTransaction();
        Assert.True(committing.TryMarkCommitSent(Evidence, "r"));
        Assert.False(committing.TryAbandonBeforeCommit()); // the engine must resolve
        Assert.True(committing.CommitSent);
        Assert.Same(Evidence, committing.CommitEvidence);

        var autocommit = new WriteProgress();
        autocommit.MarkSent();
        Assert.False(autocommit.InTransaction);
        Assert.False(autocommit.TryAbandonBeforeCommit());
    }

    private enum Step
    {
        Commit,
        FailBeforeCommit,
        FailAfterCommit,
    }

    /// <summary>A call that runs its work in a transaction, and fails (with an endpoint failure unless told otherwise)
    /// before or after sending the commit, as scripted per endpoint. Its result is the endpoint's name.</summary>
    private sealed class TransactionCall(Func<Node, Step> script, Exception? failure = null) : IEndpointCall<Node, string>
    {
        public List<string> Calls { get; } = [];

        public ValueTask<string> RunAsync(Node endpoint, WriteProgress? progress, OperationDeadline deadline, CancellationToken cancellationToken)
        {
            Calls.Add(endpoint.Name);
            progress!.MarkSent();
            progress.MarkInTransaction();
            var step = script(endpoint);
            if (step == Step.FailBeforeCommit)
            {
                return ValueTask.FromException<string>(failure ?? new IOException("cut"));
            }

            Assert.True(progress.TryMarkCommitSent(Evidence, endpoint.Name));
            return step == Step.Commit ? ValueTask.FromResult(endpoint.Name) : ValueTask.FromException<string>(failure ?? new IOException("cut"));
        }
    }

    private sealed class FakeResolver : ICommitResolver<Node>
    {
        public Func<Node, CommitVerdict> Script { get; set; } = _ => CommitVerdict.Unknowable;

        public List<string> Asked { get; } = [];

        public ValueTask<CommitVerdict> ResolveAsync(Node primary, object evidence, OperationDeadline deadline, CancellationToken cancellationToken)
        {
            Assert.Same(Evidence, evidence);
            Asked.Add(primary.Name);
            return ValueTask.FromResult(Script(primary));
        }
    }
}
