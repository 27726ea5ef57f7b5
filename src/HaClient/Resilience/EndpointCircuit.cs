using System.Runtime.CompilerServices;
using Polly;
using Polly.CircuitBreaker;
using HaClient.Telemetry;

namespace HaClient.Resilience;

/// <summary>
/// The circuit breaker of one endpoint (Polly v8). Routing reads <see cref="IsAvailable"/> (a field read, no allocation)
/// to skip isolated endpoints; calls run through <see cref="ExecuteBoundedAsync{T, TState}"/>.
/// </summary>
public sealed class EndpointCircuit
{
    private readonly CircuitBreakerStateProvider _state = new();
    private readonly CircuitBreakerManualControl _control = new();
    private readonly ResiliencePipeline _pipeline;
    private readonly TimeProvider _time;
    private readonly Func<Exception, FailureKind> _classify;
    private readonly InFlightCalls _inFlight = new();
    private readonly BreakerWindow? _window;
    private readonly bool _consecutive;
    private readonly int _consecutiveFailures;
    private readonly int _openingReports;
    private readonly int _recoverySuccesses;
    private long _retryAt;
    private int _failureStreak;
    private int _probation;
    private int _breaksSinceRecovery;

    /// <summary>Creates the breaker of <paramref name="endpoint"/>. Only failures that <paramref name="classify"/> calls
    /// <see cref="FailureKind.EndpointFailure"/> count against it: a server error, a read-only refusal and overload (the
    /// caller's deadline, a server that is full) never open it. Polly's breaker runs on <paramref name="timeProvider"/>,
    /// the one clock of the component.</summary>
    public EndpointCircuit(string cluster, string endpoint, EndpointResilienceOptions options, Func<Exception, FailureKind> classify, TimeProvider timeProvider)
    {
        Endpoint = endpoint;
        _time = timeProvider;
        _classify = classify;
        _recoverySuccesses = Math.Max(1, options.BreakerHalfOpenSuccesses);

        // Both rules on Polly's breaker: while the circuit is closed HaClient counts (the streak of the consecutive rule,
        // the window of the ratio rule) and reports nothing, then, when the rule trips, reports enough failures to meet
        // Polly's minimum throughput at a ratio of 1. Polly keeps the clock, the break, half-open and the trial call.
        _consecutiveFailures = options.BreakerConsecutiveFailures;
        _consecutive = _consecutiveFailures > 0;
        var minimumThroughput = _consecutive ? 2 : options.BreakerMinimumThroughput;
        _openingReports = minimumThroughput;
        _window = _consecutive ? null : new BreakerWindow(options.BreakerSamplingDuration, options.BreakerFailureRatio, minimumThroughput, timeProvider);
        _pipeline = new ResiliencePipelineBuilder { Name = $"{cluster}/{endpoint}", TimeProvider = timeProvider }
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                FailureRatio = _consecutive ? 1.0 : options.BreakerFailureRatio,
                MinimumThroughput = minimumThroughput,
                SamplingDuration = options.BreakerSamplingDuration,
                BreakDuration = options.BreakerBreakDuration,
                BreakDurationGenerator = options.BreakerBreakDurationGrowth > 1 ? GrowingBreak(options) : null,
                StateProvider = _state,
                ManualControl = _control,
                ShouldHandle = args => new ValueTask<bool>(args.Outcome.Exception is { } e && Counts(e)),
                OnOpened = args =>
                {
                    // When Polly will let a trial call through: the router offers the endpoint again from then on.
                    Volatile.Write(ref _retryAt, _time.GetTimestamp() + (long)(args.BreakDuration.TotalSeconds * _time.TimestampFrequency));
                    Interlocked.Increment(ref _breaksSinceRecovery);
                    Volatile.Write(ref _probation, 0);
                    Volatile.Write(ref _failureStreak, 0);
                    return Transition(cluster, endpoint, "open");
                },
                OnClosed = args =>
                {
                    // A successful trial starts the probation (the further successes the endpoint owes before it counts
                    // recovered); the monitor's reset (manual) is recovery itself.
                    // Polly's metrics start over at every close; so does HaClient's window of the ratio rule.
                    _window?.Reset();
                    var owed = args.IsManual ? 0 : _recoverySuccesses - 1;
                    Volatile.Write(ref _probation, owed);
                    Volatile.Write(ref _failureStreak, 0);
                    if (owed == 0)
                    {
                        Volatile.Write(ref _breaksSinceRecovery, 0);
                    }

                    return Transition(cluster, endpoint, "closed");
                },
                OnHalfOpened = _ => Transition(cluster, endpoint, "half_open"),
            })
            .Build();
    }

    /// <summary>Polly's break for the n-th break since the endpoint last recovered (a failed trial or a failure on
    /// probation each count one): the base break × growth^(n-1), capped.</summary>
    private Func<BreakDurationGeneratorArguments, ValueTask<TimeSpan>> GrowingBreak(EndpointResilienceOptions options)
    {
        var baseTicks = (double)options.BreakerBreakDuration.Ticks;
        var maxTicks = Math.Max(options.BreakerMaxBreakDuration.Ticks, options.BreakerBreakDuration.Ticks);
        var growth = options.BreakerBreakDurationGrowth;
        return _ => new ValueTask<TimeSpan>(TimeSpan.FromTicks((long)Math.Min(maxTicks, baseTicks * Math.Pow(growth, Volatile.Read(ref _breaksSinceRecovery)))));
    }

    /// <summary>Whether <paramref name="e"/> counts against the endpoint: only an <see cref="FailureKind.EndpointFailure"/>,
    /// and never the caller's own deadline.</summary>
    public bool Counts(Exception e) => e is not OperationDeadlineExceededException && _classify(e) == FailureKind.EndpointFailure;

    /// <summary>host:port.</summary>
    public string Endpoint { get; }

    /// <summary>The circuit state.</summary>
    public BreakerState State => _state.CircuitState switch
    {
        CircuitState.Closed => BreakerState.Closed,
        CircuitState.Open => BreakerState.Open,
        CircuitState.HalfOpen => BreakerState.HalfOpen,
        _ => BreakerState.Isolated,
    };

    /// <summary>
    /// Whether routing may pick this endpoint: closed, half-open, or open for longer than the break duration. Polly moves
    /// an open circuit to half-open only when a call is attempted, so a router that skipped every open circuit would
    /// never try the endpoint again; after the break it gets one trial call (others see <see cref="BrokenCircuitException"/>).
    /// </summary>
    public bool IsAvailable => _state.CircuitState switch
    {
        CircuitState.Closed or CircuitState.HalfOpen => true,
        CircuitState.Open => _time.GetTimestamp() >= Volatile.Read(ref _retryAt),
        _ => false,
    };

    /// <summary>
    /// Runs <paramref name="call"/> through the breaker until <paramref name="deadline"/> (see <see cref="Budget"/>).
    /// While the circuit is closed (nearly always) the call runs outside Polly's pipeline and its outcome is reported when
    /// it ends (<see cref="RecordAsync"/>); otherwise it runs inside, so Polly admits one trial call at a time and rejects
    /// the rest with <see cref="BrokenCircuitException"/>. The call returns a value task, awaited once: a pooled call costs
    /// no allocation of its own when it completes at once, and one small task object when it does not. Pooled: await the
    /// result once.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<T> ExecuteBoundedAsync<T, TState>(Func<TState, CancellationToken, ValueTask<T>> call, TState state, OperationDeadline deadline, CancellationToken cancellationToken)
    {
        if (!IsClosed)
        {
            return await ExecuteInsideAsync(static (s, ct) => s.call(s.state, ct).AsTask(), (call, state), deadline, cancellationToken).ConfigureAwait(false);
        }

        // Inline rather than through Budget.RunAsync: one pooled state machine fewer on every call.
        var cts = Budget.RentSource();
        var pending = call(state, cts.Token);
        if (!pending.IsCompleted)
        {
            // The waiter and the abandonment need a task (they may both observe it): the pooled call's small wrapper.
            var task = pending.AsTask();
            pending = new ValueTask<T>(task);
            // Wait for the first of: the call's end, its deadline, the caller's cancellation, the endpoint found down.
            var waiter = CallWaiter.Arm(task, deadline.Remaining, deadline.TimeProvider, cancellationToken);
            var entry = _inFlight.Add(waiter);
            if (entry < 0)
            {
                waiter.ReleaseRegistry();
            }

            var reason = await waiter.AsValueTask().ConfigureAwait(false);
            if (entry >= 0 && _inFlight.Remove(entry, waiter))
            {
                waiter.ReleaseRegistry();
            }

            if (reason != CallWaiter.Reason.Completed && !task.IsCompleted)
            {
                // The caller is released now; the call is cancelled off the thread pool and left to end in the
                // background. The caller's own deadline or cancellation is not held against the endpoint; an endpoint
                // found down is already known to the monitor.
                Budget.Abandon(task, cts);
                throw reason switch
                {
                    CallWaiter.Reason.Deadline => new OperationDeadlineExceededException(deadline.Budget),
                    CallWaiter.Reason.Abandoned => new OperationCanceledException($"{Endpoint} was found down while the call was in flight; the call was abandoned."),
                    _ => new OperationCanceledException(cancellationToken),
                };
            }
        }

        T result;
        try
        {
            result = await pending.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // The call's own failure: nothing holds the token any more, and the breaker judges it.
            Budget.ReturnSource(cts);
            await RecordAsync(e).ConfigureAwait(false);
            throw;
        }

        Budget.ReturnSource(cts);
        await RecordAsync(null).ConfigureAwait(false);
        return result;
    }

    /// <summary>
    /// Releases every caller whose call is in flight on this endpoint, at once (their calls are then cancelled off the
    /// thread pool): the monitor found the endpoint down (frozen, dead), so waiting out their deadlines would only hold
    /// them. A write that was sent then has an unknown outcome, as it would at its deadline, only sooner. Returns how
    /// many callers were released.
    /// </summary>
    public int AbandonInFlight() => _inFlight.ReleaseAll();

    private async ValueTask<T> ExecuteInsideAsync<T, TState>(Func<TState, CancellationToken, Task<T>> call, TState state, OperationDeadline deadline, CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        try
        {
            var outcome = await _pipeline.ExecuteOutcomeAsync(
                static (ctx, s) => Budget.RunAsync(s.call, s.state, s.deadline, ctx.CancellationToken),
                context,
                (call, state, deadline)).ConfigureAwait(false);
            outcome.ThrowIfException();
            return (T)outcome.Result!;
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>Whether the circuit is closed: calls may run outside the pipeline and report with <see cref="RecordAsync"/>.</summary>
    public bool IsClosed => _state.CircuitState == CircuitState.Closed;

    /// <summary>
    /// Reports the outcome of a call that started while the circuit was closed (<see cref="IsClosed"/>) and ran outside the
    /// pipeline: <paramref name="failure"/> is <see langword="null"/> on success. The breaker judges it exactly as if the
    /// call had run inside (same <c>ShouldHandle</c>, failure rule and transitions). While the circuit is closed HaClient
    /// counts it itself: the consecutive rule's streak, or the ratio rule's window (<see cref="BreakerWindow"/>, Polly's
    /// rolling metrics to the letter), and opens Polly's circuit when the rule says so; a report through Polly's pipeline
    /// costs about 0.35 µs per call, this a lock and a clock read. Otherwise the report goes to Polly through a callback
    /// that completes at once: if the circuit opened meanwhile, Polly drops it, as it would a call it rejected; if it is
    /// half-open, the report is the trial call.
    /// </summary>
    public ValueTask RecordAsync(Exception? failure)
    {
        if (!IsClosed)
        {
            return ReportAsync(failure);
        }

        if (failure is null || !Counts(failure))
        {
            // The endpoint answered: the streak of failures ends, and a success pays off probation. Neither tells Polly
            // anything under the consecutive rule or on probation (its window must hold only failures then).
            if (Volatile.Read(ref _failureStreak) != 0)
            {
                // Written only when set: a store on every call would bounce the field's cache line between cores.
                Volatile.Write(ref _failureStreak, 0);
            }

            if (Volatile.Read(ref _probation) > 0)
            {
                if (Interlocked.Decrement(ref _probation) == 0)
                {
                    Volatile.Write(ref _breaksSinceRecovery, 0);
                }

                return ValueTask.CompletedTask;
            }

            if (!_consecutive)
            {
                _window!.RecordSuccess();
            }

            return ValueTask.CompletedTask;
        }

        if (Volatile.Read(ref _probation) > 0 && Interlocked.Exchange(ref _probation, 0) > 0)
        {
            // A failure on probation: the endpoint has not recovered. Break again at once, for the grown break.
            return OpenAsync(failure);
        }

        if (_consecutive)
        {
            // Polly's window is empty while the circuit is closed under this rule: the n-th failure in a row opens it.
            return Interlocked.Increment(ref _failureStreak) >= _consecutiveFailures ? OpenAsync(failure) : ValueTask.CompletedTask;
        }

        // The ratio rule, counted in HaClient's window (Polly's own stays empty while the circuit is closed).
        return _window!.RecordFailure() ? OpenAsync(failure) : ValueTask.CompletedTask;
    }

    /// <summary>Opens the circuit now: Polly's window is forgotten (a manual close of a closed circuit resets it and raises
    /// no event), then its minimum throughput of failures is a ratio of 1.</summary>
    private async ValueTask OpenAsync(Exception failure)
    {
        _window?.Reset();
        if (IsClosed)
        {
            await _control.CloseAsync().ConfigureAwait(false);
        }

        for (var i = 0; i < _openingReports && IsClosed; i++)
        {
            await ReportAsync(failure).ConfigureAwait(false);
        }
    }

    private ValueTask ReportAsync(Exception? failure)
    {
        var context = ResilienceContextPool.Shared.Get();
        var pending = _pipeline.ExecuteOutcomeAsync(
            static (_, e) => new ValueTask<Outcome<object?>>(e is null ? Outcome.FromResult<object?>(null) : Outcome.FromException<object?>(e)),
            context,
            failure);
        if (pending.IsCompletedSuccessfully)
        {
            ResilienceContextPool.Shared.Return(context);
            return ValueTask.CompletedTask;
        }

        return AwaitReportAsync(pending, context);

        static async ValueTask AwaitReportAsync(ValueTask<Outcome<object?>> pending, ResilienceContext context)
        {
            try
            {
                await pending.ConfigureAwait(false);
            }
            finally
            {
                ResilienceContextPool.Shared.Return(context);
            }
        }
    }

    /// <summary>Closes the circuit at once (the monitor saw the endpoint healthy and in the right role again).</summary>
    public Task ResetAsync() => _state.CircuitState == CircuitState.Closed ? Task.CompletedTask : _control.CloseAsync();

    private static ValueTask Transition(string cluster, string endpoint, string state)
    {
        HaClientTelemetry.BreakerTransitions.Add(1, new("haclient.cluster", cluster), new("haclient.endpoint", endpoint), new("haclient.breaker.state", state));
        return ValueTask.CompletedTask;
    }
}
