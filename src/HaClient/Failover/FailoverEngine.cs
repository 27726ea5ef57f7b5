using System.Diagnostics;
using System.Runtime.CompilerServices;
using HaClient.Monitoring;
using HaClient.Resilience;
using HaClient.Telemetry;
using Microsoft.Extensions.Logging;

namespace HaClient.Failover;

/// <summary>
/// The one failover engine every store runs on. For each operation it starts an <see cref="OperationDeadline"/>, waits
/// within it for an eligible endpoint (the store's pure selection), makes the bounded call, classifies a failure
/// (<see cref="FailureKind"/>) and then re-routes or throws, by the same rules for every store:
/// <list type="bullet">
/// <item>a write refused as read-only, or refused before anything was sent, is re-routed while the deadline lasts (at
/// most <see cref="MaxWriteAttempts"/> attempts, each after the first waiting for the topology to move), then fails with
/// <see cref="NoEligibleEndpointException"/>, which is safe to retry;</item>
/// <item>a write that fails after it was sent is never retried: <see cref="WriteOutcomeUnknownException"/>;</item>
/// <item>a read that meets an endpoint failure, overload or a read-only refusal is retried once on another endpoint,
/// then fails with <see cref="ReadFailedException"/>;</item>
/// <item>server errors (a constraint, a wrong type) reach the caller unchanged.</item>
/// </list>
/// Errors are counted under <see cref="ErrorKinds"/> and routing decisions before each call, the same for every store;
/// each operation is counted once when it ends (<see cref="HaClientTelemetry.Operations"/>,
/// <see cref="HaClientTelemetry.OperationDuration"/>), by kind, the role of the last endpoint tried and its outcome.
/// </summary>
/// <typeparam name="TEndpoint">The store's endpoint.</typeparam>
/// <typeparam name="TReadIntent">What a read asks for.</typeparam>
public sealed partial class FailoverEngine<TEndpoint, TReadIntent>
    where TEndpoint : class
{
    /// <summary>The most attempts one write makes before it fails as not sent.</summary>
    public const int MaxWriteAttempts = 3;

    private readonly IFailoverTopology<TEndpoint, TReadIntent> _topology;
    private readonly Func<Exception, FailureKind> _classify;
    private readonly TimeSpan _budget;
    private readonly TimeSpan _recheck;
    private readonly ILogger _logger;
    private readonly KeyValuePair<string, object?> _clusterTag;
    private readonly KeyValuePair<string, object?> _storeTag;

    /// <summary>Creates the engine of one component.</summary>
    /// <param name="cluster">The component's logical name (metrics, logs, errors).</param>
    /// <param name="store">The store, as OpenTelemetry's <c>db.system.name</c> names it (<c>postgresql</c>, <c>redis</c>).</param>
    /// <param name="topology">The store's selection and reports.</param>
    /// <param name="classify">The store's failure classifier.</param>
    /// <param name="budget">The time one operation may take, waits included.</param>
    /// <param name="recheckInterval">While no endpoint is eligible, how often the selection is tried again even without a
    /// topology change (a breaker may have let a trial call through).</param>
    /// <param name="timeProvider">The component's clock.</param>
    /// <param name="logger">Where unknown outcomes are logged.</param>
    public FailoverEngine(string cluster, string store, IFailoverTopology<TEndpoint, TReadIntent> topology, Func<Exception, FailureKind> classify, TimeSpan budget, TimeSpan recheckInterval, TimeProvider timeProvider, ILogger logger)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(cluster);
        ArgumentException.ThrowIfNullOrWhiteSpace(store);
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(classify);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(budget, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(recheckInterval, TimeSpan.Zero);
        Cluster = cluster;
        _topology = topology;
        _classify = classify;
        _budget = budget;
        _recheck = recheckInterval;
        TimeProvider = timeProvider;
        _logger = logger;
        _clusterTag = new("haclient.cluster", cluster);
        _storeTag = new("db.system.name", store);
    }

    /// <summary>The component's logical name.</summary>
    public string Cluster { get; }

    /// <summary>The component's clock.</summary>
    public TimeProvider TimeProvider { get; }

    /// <summary>Starts the deadline of one operation.</summary>
    public OperationDeadline StartOperation() => new(TimeProvider, _budget);

    /// <summary>Runs a write on the primary by the rules above.</summary>
    public Task<T> ExecuteWriteAsync<T, TCall>(TCall call, CancellationToken cancellationToken)
        where TCall : IEndpointCall<TEndpoint, T>
        => WriteAsync<T, TCall>(call, WriteRetry.None, cancellationToken).AsTask();

    /// <summary>Runs a write on the primary by the rules above; a write that provably did not commit (a call that runs in
    /// its own transaction: <see cref="WriteProgress.MarkInTransaction"/>) is run again when <paramref name="retry"/>
    /// says so, else fails with <see cref="WriteNotCommittedException"/>.</summary>
    public Task<T> ExecuteWriteAsync<T, TCall>(TCall call, WriteRetry retry, CancellationToken cancellationToken)
        where TCall : IEndpointCall<TEndpoint, T>
        => WriteAsync<T, TCall>(call, retry, cancellationToken).AsTask();

    /// <summary>Runs a read on an endpoint that serves <paramref name="intent"/>, by the rules above.</summary>
    public Task<T> ExecuteReadAsync<T, TCall>(TReadIntent intent, TCall call, CancellationToken cancellationToken)
        where TCall : IEndpointCall<TEndpoint, T>
        => ReadAsync<T, TCall>(intent, call, cancellationToken).AsTask();

    // Pooled state machines: a call that waits on I/O costs the public Task only, not a box of every local as well.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<T> WriteAsync<T, TCall>(TCall call, WriteRetry retry, CancellationToken cancellationToken)
        where TCall : IEndpointCall<TEndpoint, T>
    {
        var deadline = StartOperation();
        Exception? last = null;
        TEndpoint? failed = null;
        var targetRole = NoRole;
        try
        {
            for (var attempt = 0; ; attempt++)
            {
                if (failed is not null)
                {
                    // Re-routing: at once when the selection has moved on; otherwise wait (within the deadline) for the
                    // topology to move, or for the re-check interval.
                    var changed = _topology.Changed;
                    var next = _topology.SelectWriter();
                    if (next is null || ReferenceEquals(next, failed))
                    {
                        await WaitForChangeAsync(changed, deadline, last, cancellationToken).ConfigureAwait(false);
                    }
                }

                var endpoint = (failed is null ? _topology.SelectWriter() : null)
                    ?? await WaitForWriterAsync(deadline, last, cancellationToken).ConfigureAwait(false);
                var progress = new WriteProgress();
                try
                {
                    targetRole = Route(endpoint, read: false);
                    var result = await call.RunAsync(endpoint, progress, deadline, cancellationToken).ConfigureAwait(false);
                    CountOperation(Write, targetRole, Outcomes.Success, deadline);
                    return result;
                }
                catch (Exception e) when (!cancellationToken.IsCancellationRequested && _classify(e) is var kind && kind != FailureKind.ServerError)
                {
                    var end = OnWriteFailed(endpoint, e, kind, progress);
                    if (end == AttemptEnd.Resolve)
                    {
                        end = await ResolveCommitAsync(endpoint, e, progress, deadline, cancellationToken).ConfigureAwait(false);
                    }

                    if (end == AttemptEnd.Committed)
                    {
                        CountOperation(Write, targetRole, Outcomes.Success, deadline);
                        return (T)progress.PendingResult!;
                    }

                    last = e;
                    failed = endpoint;
                    if (end == AttemptEnd.NotCommitted)
                    {
                        if (retry != WriteRetry.WhenNotCommitted || attempt + 1 >= MaxWriteAttempts || deadline.IsExpired)
                        {
                            CountError(ErrorKinds.WriteNotCommitted);
                            throw new WriteNotCommittedException(_topology.NameOf(endpoint), e);
                        }

                        CountError(ErrorKinds.WriteRetried);
                    }
                    else if (attempt + 1 >= MaxWriteAttempts || deadline.IsExpired)
                    {
                        CountError(ErrorKinds.NoEligibleEndpoint);
                        throw new NoEligibleEndpointException(Cluster, "primary", deadline.Elapsed, e);
                    }
                }
            }
        }
        catch (Exception e) when (CountFailedOperation(Write, targetRole, e, deadline, cancellationToken))
        {
            throw; // never reached: the filter counts and declines
        }
    }

    /// <summary>What a failed write attempt means: re-route it (refused as read-only, or provably not sent), it did not
    /// commit (its transaction's commit was never sent), its commit must be resolved, or it was sent outside a
    /// transaction and its outcome is unknown (throws <see cref="WriteOutcomeUnknownException"/>; never retried).</summary>
    private AttemptEnd OnWriteFailed(TEndpoint endpoint, Exception e, FailureKind kind, WriteProgress progress)
    {
        if (kind == FailureKind.ReadOnly)
        {
            // The node said it is no primary before it wrote anything: re-route.
            _topology.ReportNotPrimary(endpoint);
            CountError(ErrorKinds.WriteRerouted);
            return AttemptEnd.Reroute;
        }

        Report(endpoint, e, kind);
        if (!progress.Sent || _topology.ProvesNotSent(e))
        {
            CountError(e is Polly.CircuitBreaker.BrokenCircuitException ? ErrorKinds.WriteCircuitOpen : ErrorKinds.WriteNotSent);
            return AttemptEnd.Reroute;
        }

        if (progress.InTransaction)
        {
            // Either the commit was never sent (and now never will be), or it must be resolved.
            return progress.TryAbandonBeforeCommit() ? AttemptEnd.NotCommitted : AttemptEnd.Resolve;
        }

        throw OutcomeUnknown(endpoint, e);
    }

    private WriteOutcomeUnknownException OutcomeUnknown(TEndpoint endpoint, Exception e)
    {
        CountError(ErrorKinds.WriteOutcomeUnknown);
        var name = _topology.NameOf(endpoint);
        LogOutcomeUnknown(_logger, Cluster, name, e.GetType().Name);
        return new WriteOutcomeUnknownException(name, e);
    }

    /// <summary>Waits within <paramref name="deadline"/> for an endpoint that takes writes.</summary>
    /// <exception cref="NoEligibleEndpointException">None within the deadline (carries <paramref name="last"/>).</exception>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<TEndpoint> WaitForWriterAsync(OperationDeadline deadline, Exception? last, CancellationToken cancellationToken)
    {
        while (true)
        {
            var changed = _topology.Changed;
            if (_topology.SelectWriter() is { } endpoint)
            {
                return endpoint;
            }

            await WaitForChangeAsync(changed, deadline, last, cancellationToken, "primary").ConfigureAwait(false);
        }
    }

    /// <summary>Waits within <paramref name="deadline"/> for an endpoint that serves <paramref name="intent"/>.</summary>
    /// <exception cref="NoEligibleEndpointException">None within the deadline (carries <paramref name="last"/>).</exception>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<TEndpoint> WaitForReaderAsync(TReadIntent intent, TEndpoint? exclude, OperationDeadline deadline, Exception? last, CancellationToken cancellationToken)
    {
        while (true)
        {
            var changed = _topology.Changed;
            if (_topology.SelectReader(intent, exclude) is { } endpoint)
            {
                return endpoint;
            }

            await WaitForChangeAsync(changed, deadline, last, cancellationToken, "replica or primary").ConfigureAwait(false);
        }
    }

    /// <summary>Counts an error under <paramref name="kind"/> (one of <see cref="ErrorKinds"/>).</summary>
    public void CountError(string kind) => HaClientTelemetry.Errors.Add(1, _clusterTag, new("error.type", kind));

    private const string Read = "read";
    private const string Write = "write";
    private const string NoRole = "none";

    /// <summary>Counts one operation that ended (<c>haclient.operations</c>, <c>haclient.operation.duration</c>).</summary>
    private void CountOperation(string operation, string targetRole, string outcome, OperationDeadline deadline)
    {
        if (!HaClientTelemetry.Operations.Enabled && !HaClientTelemetry.OperationDuration.Enabled)
        {
            return;
        }

        var tags = new TagList
        {
            _clusterTag,
            _storeTag,
            { "haclient.operation", operation },
            { "haclient.target_role", targetRole },
            { "haclient.outcome", outcome },
        };
        HaClientTelemetry.Operations.Add(1, tags);
        HaClientTelemetry.OperationDuration.Record(deadline.Elapsed.TotalSeconds, tags);
    }

    /// <summary>An exception filter: counts the operation that ends with <paramref name="e"/> and declines, so the
    /// exception leaves unchanged (stack included).</summary>
    private bool CountFailedOperation(string operation, string targetRole, Exception e, OperationDeadline deadline, CancellationToken cancellationToken)
    {
        var outcome = e switch
        {
            OperationCanceledException when cancellationToken.IsCancellationRequested => Outcomes.Cancelled,
            HaClientException => Outcomes.Failed,
            _ => Outcomes.ServerError,
        };
        CountOperation(operation, targetRole, outcome, deadline);
        return false;
    }

    /// <summary>An endpoint failure is reported to the store (it probes, or re-verifies its primary); overload is only
    /// counted: it says nothing against the endpoint.</summary>
    private void Report(TEndpoint endpoint, Exception e, FailureKind kind)
    {
        if (kind == FailureKind.EndpointFailure)
        {
            _topology.ReportEndpointFailure(endpoint, e);
        }
        else if (kind == FailureKind.Overload)
        {
            CountError(ErrorKinds.Overload);
        }
    }

    private async Task WaitForChangeAsync(Task changed, OperationDeadline deadline, Exception? last, CancellationToken cancellationToken, string target = "primary")
    {
        var remaining = deadline.Remaining;
        if (remaining <= TimeSpan.Zero)
        {
            CountError(ErrorKinds.NoEligibleEndpoint);
            throw new NoEligibleEndpointException(Cluster, target, deadline.Elapsed, last ?? _topology.CurrentFailure);
        }

        _topology.RequestProbe();
        // Wake on a topology change; re-check at least every re-check interval (a breaker may have half-opened).
        // Woken on the thread that publishes the change (TopologyChangeSignal), not through the thread pool.
        _ = await TopologyChangeSignal.WhenChangedAsync(changed, remaining < _recheck ? remaining : _recheck, TimeProvider, cancellationToken).ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 20, Level = LogLevel.Warning, Message = "{Cluster}: write to {Endpoint} failed after it was sent ({Error}); its outcome is unknown and it was not retried")]
    private static partial void LogOutcomeUnknown(ILogger logger, string cluster, string endpoint, string error);
}
