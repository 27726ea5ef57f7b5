using HaClient.Resilience;

namespace HaClient.Failover;

/// <summary>
/// What a store tells the <see cref="FailoverEngine{TEndpoint, TReadIntent}"/> about its endpoints: a pure selection
/// over its latest published topology (a primary for writes, a node for a read intent), the signal that the topology
/// changed, and where the engine reports what it learned from a failed call. Implementations read state; they never
/// wait and never do I/O.
/// </summary>
/// <typeparam name="TEndpoint">The store's endpoint (a PostgreSQL host, a Redis node).</typeparam>
/// <typeparam name="TReadIntent">What a read asks for (a consistency, a read preference).</typeparam>
public interface IFailoverTopology<TEndpoint, TReadIntent>
    where TEndpoint : class
{
    /// <summary>Completes at the next change of the topology (a new primary, a role change). Read it before selecting,
    /// so that a change between the selection and the wait is not missed.</summary>
    Task Changed { get; }

    /// <summary>The endpoint writes go to now, or <see langword="null"/> while none may take them.</summary>
    TEndpoint? SelectWriter();

    /// <summary>The endpoint that serves <paramref name="intent"/> now, never <paramref name="exclude"/>; or
    /// <see langword="null"/> while none may.</summary>
    TEndpoint? SelectReader(TReadIntent intent, TEndpoint? exclude);

    /// <summary>Whether <paramref name="endpoint"/> is the primary now (for the routing decisions' role tag).</summary>
    bool IsPrimary(TEndpoint endpoint);

    /// <summary>Whether <paramref name="endpoint"/> is in the application's zone (for the read decisions'
    /// <c>haclient.zone_local</c> tag); <see langword="null"/> when the store has no local zone set (the default).</summary>
    bool? IsInLocalZone(TEndpoint endpoint) => null;

    /// <summary>host:port of <paramref name="endpoint"/>, for errors and logs (never credentials).</summary>
    string NameOf(TEndpoint endpoint);

    /// <summary>Probe every endpoint now: a call failed in a way that says the topology may have moved.</summary>
    void RequestProbe();

    /// <summary><paramref name="endpoint"/> refused a write as read-only: it is no primary.</summary>
    void ReportNotPrimary(TEndpoint endpoint);

    /// <summary>A call on <paramref name="endpoint"/> met an <see cref="Resilience.FailureKind.EndpointFailure"/>.</summary>
    void ReportEndpointFailure(TEndpoint endpoint, Exception failure);

    /// <summary>Whether <paramref name="failure"/>, thrown after the call began to send, proves that nothing reached the
    /// server (a client that refused the command for want of a connection).</summary>
    bool ProvesNotSent(Exception failure);

    /// <summary>Why no endpoint qualifies right now, when the store's monitor knows (a server that refuses the
    /// credentials, a database that does not exist): attached to <see cref="NoEligibleEndpointException"/> when the call
    /// has no failure of its own, so that a misconfiguration is plain from the exception a caller catches. None by
    /// default.</summary>
    Exception? CurrentFailure => null;
}

/// <summary>One call on one endpoint, made by the engine for each attempt: open what it needs on the endpoint (through the endpoint's breaker and until the deadline) and run the work. A write marks
/// <c>progress</c> sent just before anything may reach the server.</summary>
/// <typeparam name="TEndpoint">The store's endpoint.</typeparam>
/// <typeparam name="T">The call's result.</typeparam>
public interface IEndpointCall<in TEndpoint, T>
{
    /// <summary>Runs the call. <paramref name="progress"/> is <see langword="null"/> for reads.</summary>
    ValueTask<T> RunAsync(TEndpoint endpoint, WriteProgress? progress, OperationDeadline deadline, CancellationToken cancellationToken);
}
