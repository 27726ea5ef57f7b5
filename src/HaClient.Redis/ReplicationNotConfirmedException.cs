namespace HaClient.Redis;

/// <summary>
/// A durable write was applied on the primary, but fewer replicas than required acknowledged it within the <c>WAIT</c>
/// timeout. The write exists on the primary and may be lost if the primary fails before it replicates. Retrying writes it
/// again (safe only for idempotent writes such as SET).
/// </summary>
public sealed class ReplicationNotConfirmedException : HaClientException
{
    /// <summary>Creates the exception.</summary>
    public ReplicationNotConfirmedException(string endpoint, int required, long acknowledged, TimeSpan timeout)
        : base($"The write on {endpoint} was acknowledged by {acknowledged} of the {required} required replica(s) within {timeout.TotalMilliseconds:0} ms; it may be lost if the primary fails.")
    {
        Endpoint = endpoint;
        Required = required;
        Acknowledged = acknowledged;
    }

    /// <summary>The primary (host:port) the write was applied on.</summary>
    public string Endpoint { get; }

    /// <summary>The replicas required.</summary>
    public int Required { get; }

    /// <summary>The replicas that acknowledged.</summary>
    public long Acknowledged { get; }

    /// <inheritdoc />
    public override bool IsSafeToRetry => false;
}
