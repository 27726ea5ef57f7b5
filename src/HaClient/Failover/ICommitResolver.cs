using HaClient.Resilience;

namespace HaClient.Failover;

/// <summary>
/// A store's answer to "did this commit happen?", asked by the <see cref="FailoverEngine{TEndpoint, TReadIntent}"/> of
/// the endpoint that is primary now (the one that holds the deployment's history) when a transaction's connection failed
/// after its commit was sent. The store decides from the evidence its call recorded before the commit
/// (<see cref="WriteProgress.TryMarkCommitSent"/>); the engine waits, re-asks and gives up at the deadline.
/// </summary>
/// <typeparam name="TEndpoint">The store's endpoint.</typeparam>
public interface ICommitResolver<in TEndpoint>
{
    /// <summary>Asks <paramref name="primary"/> what became of the commit <paramref name="evidence"/> describes, within
    /// <paramref name="deadline"/>. Throws what the store's calls throw when the endpoint fails (the engine classifies
    /// it and asks again).</summary>
    ValueTask<CommitVerdict> ResolveAsync(TEndpoint primary, object evidence, OperationDeadline deadline, CancellationToken cancellationToken);
}

/// <summary>What a store could tell of a commit whose reply was lost.</summary>
public enum CommitVerdict
{
    /// <summary>Not yet known: the commit is still in progress, or the endpoint asked is not (yet) the primary. Ask again
    /// after the topology moves, while the deadline lasts.</summary>
    NotYet = 0,

    /// <summary>The commit is part of the deployment's history: the write took effect.</summary>
    Committed = 1,

    /// <summary>The commit is not part of the deployment's history and never will be: the write did not take
    /// effect.</summary>
    NotCommitted = 2,

    /// <summary>The store cannot prove either (the evidence does not reach far enough back, another deployment answers):
    /// the outcome stays unknown.</summary>
    Unknowable = 3,
}

/// <summary>Whether a write that provably did not commit is run again.</summary>
public enum WriteRetry
{
    /// <summary>Never: a write that did not commit fails with <see cref="WriteNotCommittedException"/> and the caller
    /// decides.</summary>
    None = 0,

    /// <summary>A write that provably did not commit (its connection failed before the commit was sent, or the primary
    /// that holds the history has no trace of the commit) is run again on the primary, within the same budget. Safe only
    /// for work whose every effect is inside the transaction.</summary>
    WhenNotCommitted = 1,
}
