namespace HaClient;

/// <summary>Base type of every exception HaClient raises itself.</summary>
public abstract class HaClientException : Exception
{
    /// <summary>Creates the exception.</summary>
    protected HaClientException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }

    /// <summary>
    /// Whether the caller may safely retry the same operation. <see langword="false"/> when the operation may already
    /// have taken effect.
    /// </summary>
    public abstract bool IsSafeToRetry { get; }
}

/// <summary>
/// A write or transaction was cut off (connection lost, failover, operation budget exceeded) after it was sent, so it may
/// or may not have been committed. HaClient never retries such a write; the application must decide (for example by
/// reading the row back, or by using an idempotency key).
/// </summary>
public sealed class WriteOutcomeUnknownException : HaClientException
{
    /// <summary>Creates the exception.</summary>
    public WriteOutcomeUnknownException(string endpoint, Exception? innerException)
        : base($"The outcome of the write sent to {endpoint} is unknown: the connection failed or the operation budget ran out after the command was sent. It was not retried.", innerException)
    {
        Endpoint = endpoint;
    }

    /// <summary>The endpoint (host:port, never credentials) the write was sent to.</summary>
    public string Endpoint { get; }

    /// <inheritdoc />
    public override bool IsSafeToRetry => false;
}

/// <summary>A write ran in a transaction that provably did not commit: its connection failed before the commit was sent,
/// or the primary that now holds the deployment's history has no trace of the commit. Nothing of it took effect in the
/// database, so running it again is safe for work whose every effect is inside the transaction
/// (<see cref="Failover.WriteRetry.WhenNotCommitted"/> does that for you).</summary>
public sealed class WriteNotCommittedException : HaClientException
{
    /// <summary>Creates the exception.</summary>
    public WriteNotCommittedException(string endpoint, Exception? innerException)
        : base($"The write sent to {endpoint} did not commit: its connection failed before the commit took effect, and the primary confirmed that. Nothing of it was written; it was not retried.", innerException)
    {
        Endpoint = endpoint;
    }

    /// <summary>The endpoint (host:port, never credentials) the write was sent to.</summary>
    public string Endpoint { get; }

    /// <inheritdoc />
    public override bool IsSafeToRetry => true;
}

/// <summary>No endpoint that may serve the request (a primary for writes, any eligible node for reads) was found
/// within the operation budget. Nothing was sent, so retrying later is safe.</summary>
public sealed class NoEligibleEndpointException : HaClientException
{
    /// <summary>Creates the exception.</summary>
    public NoEligibleEndpointException(string cluster, string target, TimeSpan waited, Exception? innerException = null)
        : base($"Cluster '{cluster}' has no {target} available (waited {waited.TotalMilliseconds:0} ms). Nothing was sent.{(innerException is null ? "" : $" Last failure: {innerException.Message}")}", innerException)
    {
        Cluster = cluster;
        Target = target;
    }

    /// <summary>The logical cluster name.</summary>
    public string Cluster { get; }

    /// <summary>What was needed: "primary" or "replica or primary".</summary>
    public string Target { get; }

    /// <inheritdoc />
    public override bool IsSafeToRetry => true;
}

/// <summary>A read failed on every eligible node it was tried on (at most two). Reads are idempotent: retrying is safe.</summary>
public sealed class ReadFailedException : HaClientException
{
    /// <summary>Creates the exception.</summary>
    public ReadFailedException(string endpoint, Exception? innerException)
        : base($"The read failed on {endpoint} after it was retried once on another node.", innerException)
    {
        Endpoint = endpoint;
    }

    /// <summary>The endpoint of the last attempt.</summary>
    public string Endpoint { get; }

    /// <inheritdoc />
    public override bool IsSafeToRetry => true;
}

/// <summary>A call was released at the end of its operation budget (<c>Resilience:OperationTimeout</c>) while it was still
/// running; HaClient cancelled it in the background. It is the caller's own deadline, not evidence against the endpoint:
/// it never opens a breaker. It reaches callers as the cause inside HaClient's typed exceptions.</summary>
public sealed class OperationDeadlineExceededException : TimeoutException
{
    /// <summary>Creates the exception.</summary>
    public OperationDeadlineExceededException(TimeSpan budget)
        : base($"The operation budget of {budget.TotalMilliseconds:0} ms ran out before the call ended; it was cancelled in the background.")
    {
        Budget = budget;
    }

    /// <summary>The budget that ran out.</summary>
    public TimeSpan Budget { get; }
}
