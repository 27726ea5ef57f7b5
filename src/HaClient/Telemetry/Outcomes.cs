namespace HaClient.Telemetry;

/// <summary>The values of the <c>haclient.outcome</c> tag on <c>haclient.operations</c> and
/// <c>haclient.operation.duration</c>.</summary>
public static class Outcomes
{
    /// <summary>The operation returned its result.</summary>
    public const string Success = "success";

    /// <summary>The server answered with the query's own error (a constraint, a typo), which reached the caller unchanged.</summary>
    public const string ServerError = "server_error";

    /// <summary>HaClient failed the operation: no eligible endpoint, a read that failed everywhere, an unknown write
    /// outcome, a durable write not confirmed (a <see cref="HaClientException"/>).</summary>
    public const string Failed = "failed";

    /// <summary>The caller cancelled it.</summary>
    public const string Cancelled = "cancelled";
}
