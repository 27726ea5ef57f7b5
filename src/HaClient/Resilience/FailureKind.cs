namespace HaClient.Resilience;

/// <summary>What a failed call says about the endpoint it ran on. Each store's classifier
/// (<c>PostgresFailureClassifier</c>, <c>RedisFailureClassifier</c>) maps its driver's exceptions to these; the engine acts
/// on the kind, never on the driver's types. Whether anything was sent is tracked apart: an
/// <see cref="EndpointFailure"/> or <see cref="Overload"/> after a write was sent makes its outcome unknown.</summary>
public enum FailureKind
{
    /// <summary>The server ran the command and refused it (a constraint, a syntax error, a missing table). The endpoint is
    /// healthy; the error reaches the caller unchanged and never counts for the breaker.</summary>
    ServerError = 0,

    /// <summary>The endpoint could not be reached or the connection broke (refused, reset, a driver's own timeout, a
    /// server shutting down). Counts for the endpoint's breaker and wakes the monitor.</summary>
    EndpointFailure = 1,

    /// <summary>The node refused a write as read-only: it is no primary (any more). Nothing was written, so the write is
    /// re-routed. Never counts for the breaker.</summary>
    ReadOnly = 2,

    /// <summary>The caller's own deadline ran out, or the server refused a connection for being full (PostgreSQL
    /// <c>53300</c>, Redis <c>max number of clients</c>, a client pool with no free connection). Says nothing against the
    /// endpoint: never opens a breaker and never marks a host down.</summary>
    Overload = 3,
}
