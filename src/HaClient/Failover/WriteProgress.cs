namespace HaClient.Failover;

/// <summary>How far one write attempt got, which decides what its failure means:
/// <list type="bullet">
/// <item>nothing sent: safe to re-route;</item>
/// <item>sent outside a transaction the store commits: the outcome is unknown;</item>
/// <item>sent inside such a transaction, its commit not yet sent: provably not committed (the server rolls back a
/// transaction whose session ends uncommitted);</item>
/// <item>its commit sent: the store resolves it (<see cref="ICommitResolver{TEndpoint}"/>) from the evidence the call
/// recorded.</item>
/// </list>
/// The call and the engine may race (the engine releases a call at its deadline while the call goes on in the
/// background): the step from "in a transaction" to "commit sent" and the engine's "abandoned before the commit" are one
/// atomic choice, so a write the engine reported as not committed can never commit afterwards.</summary>
public sealed class WriteProgress
{
    private const int NotSent = 0;
    private const int SentState = 1;
    private const int InTransactionState = 2;
    private const int CommitSentState = 3;
    private const int AbandonedState = 4;

    private int _state;

    /// <summary>Whether the write may have reached the server.</summary>
    public bool Sent => Volatile.Read(ref _state) != NotSent;

    /// <summary>Whether the write runs in a transaction the store commits (<see cref="MarkInTransaction"/>).</summary>
    public bool InTransaction => Volatile.Read(ref _state) >= InTransactionState;

    /// <summary>Whether the transaction's commit was sent (<see cref="TryMarkCommitSent"/>).</summary>
    public bool CommitSent => Volatile.Read(ref _state) == CommitSentState;

    /// <summary>What the store recorded to resolve the commit with (<see cref="TryMarkCommitSent"/>).</summary>
    public object? CommitEvidence { get; private set; }

    /// <summary>The work's result, kept for a commit that is resolved as committed.</summary>
    public object? PendingResult { get; private set; }

    /// <summary>Marks the write as sent. Call it just before the first byte of the work may leave.</summary>
    public void MarkSent() => Interlocked.CompareExchange(ref _state, SentState, NotSent);

    /// <summary>Marks the write as running inside a transaction that the call itself will commit; call it before the
    /// transaction's first statement may leave. A failure from here until <see cref="TryMarkCommitSent"/> means the write
    /// did not commit.</summary>
    public void MarkInTransaction()
    {
        var s = Volatile.Read(ref _state);
        if (s is NotSent or SentState)
        {
            Interlocked.CompareExchange(ref _state, InTransactionState, s);
        }
    }

    /// <summary>Records the evidence to resolve the commit with and the work's result, then marks the commit as sent.
    /// Call it just before the commit may leave. Returns <see langword="false"/> when the engine has already given the
    /// attempt up as not committed: the call must then roll back, never commit.</summary>
    public bool TryMarkCommitSent(object evidence, object? result)
    {
        ArgumentNullException.ThrowIfNull(evidence);
        CommitEvidence = evidence;
        PendingResult = result;
        return Interlocked.CompareExchange(ref _state, CommitSentState, InTransactionState) == InTransactionState;
    }

    /// <summary>The engine's side of the race: gives up an attempt whose commit was not sent. True when the attempt is
    /// in a transaction and its commit will now never be sent.</summary>
    internal bool TryAbandonBeforeCommit()
        => Interlocked.CompareExchange(ref _state, AbandonedState, InTransactionState) == InTransactionState
           || Volatile.Read(ref _state) == AbandonedState;
}
