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
    private long _retryAt;

    /// <summary>Creates the breaker of <paramref name="endpoint"/>. Only failures that <paramref name="classify"/> calls
    /// <see cref="FailureKind.EndpointFailure"/> count against it: a server error, a read-only refusal and overload (the
    /// caller's deadline, a server that is full) never open it. Polly's breaker runs on <paramref name="timeProvider"/>,
    /// the one clock of the component.</summary>
    public EndpointCircuit(string cluster, string endpoint, EndpointResilienceOptions options, Func<Exception, FailureKind> classify, TimeProvider timeProvider)
    {
        Endpoint = endpoint;
        _time = timeProvider;
        _classify = classify;
        _pipeline = new ResiliencePipelineBuilder { Name = $"{cluster}/{endpoint}", TimeProvider = timeProvider }
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                FailureRatio = options.BreakerFailureRatio,
                MinimumThroughput = options.BreakerMinimumThroughput,
                SamplingDuration = options.BreakerSamplingDuration,
                BreakDuration = options.BreakerBreakDuration,
                StateProvider = _state,
                ManualControl = _control,
                ShouldHandle = args => new ValueTask<bool>(args.Outcome.Exception is { } e && Counts(e)),
                OnOpened = args =>
                {
                    // When Polly will let a trial call through: the router offers the endpoint again from then on.
                    Volatile.Write(ref _retryAt, _time.GetTimestamp() + (long)(args.BreakDuration.TotalSeconds * _time.TimestampFrequency));
                    return Transition(cluster, endpoint, "open");
                },
                OnClosed = _ => Transition(cluster, endpoint, "closed"),
                OnHalfOpened = _ => Transition(cluster, endpoint, "half_open"),
            })
            .Build();
    }

    /// <summary>Whether <paramref name="e"/> counts against the endpoint: only an <see cref="FailureKind.EndpointFailure"/>,
    /// and never the caller's own deadline.</summary>
    public bool Counts(Exception e) => e is not OperationDeadlineExceededException && _classify(e) == FailureKind.EndpointFailure;

    /// <summary>host:port.</summary>
    public string Endpoint { get; }

    /// <summary>The circuit state.</summary>
    public CircuitState State => _state.CircuitState;

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

    /// <summary>Runs a call through the breaker's pipeline, with no budget. Throws <see cref="BrokenCircuitException"/> when
    /// open. The product's calls use <see cref="ExecuteBoundedAsync{T, TState}"/>; this plain form is what the unit tests
    /// and the breaker benchmark compare with a raw Polly pipeline.</summary>
    internal ValueTask<TResult> ExecuteAsync<TResult, TState>(Func<TState, CancellationToken, ValueTask<TResult>> callback, TState state, CancellationToken cancellationToken)
        => _pipeline.ExecuteAsync(callback, state, cancellationToken);

    /// <summary>
    /// Runs <paramref name="call"/> through the breaker until <paramref name="deadline"/> (see <see cref="Budget"/>).
    /// While the circuit is closed (nearly always) the call runs outside Polly's pipeline and its outcome is reported when
    /// it ends (<see cref="RecordAsync"/>); otherwise it runs inside, so Polly admits one trial call at a time and rejects
    /// the rest with <see cref="BrokenCircuitException"/>. Pooled: await the result once.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<T> ExecuteBoundedAsync<T, TState>(Func<TState, CancellationToken, Task<T>> call, TState state, OperationDeadline deadline, CancellationToken cancellationToken)
    {
        if (!IsClosed)
        {
            return await ExecuteInsideAsync(call, state, deadline, cancellationToken).ConfigureAwait(false);
        }

        // Inline rather than through Budget.RunAsync: one pooled state machine fewer on every call.
        var cts = Budget.RentSource();
        var task = call(state, cts.Token);
        T result;
        try
        {
            result = await task.WaitAsync(Budget.AtLeastOneMillisecond(deadline.Remaining), deadline.TimeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception) when (task.IsCompletedSuccessfully)
        {
            // The call ended just as the deadline passed: its result stands.
            result = task.Result;
        }
        catch (Exception e)
        {
            var failure = Budget.Settle(task, cts, e, deadline.Budget, cancellationToken);
            if (task.IsCompleted)
            {
                // The call's own failure: the breaker judges it. An abandoned call (the caller's deadline) is not reported.
                await RecordAsync(failure).ConfigureAwait(false);
            }

            if (ReferenceEquals(failure, e))
            {
                throw;
            }

            throw failure;
        }

        Budget.ReturnSource(cts);
        await RecordAsync(null).ConfigureAwait(false);
        return result;
    }

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
    /// call had run inside (same <c>ShouldHandle</c>, failure ratio and transitions), through a callback that completes at
    /// once, which Polly runs without allocating. Holding Polly's asynchronous frame across the I/O instead costs two
    /// state machines per call. If the circuit opened meanwhile, Polly drops the report, as it would a call it rejected;
    /// if it is half-open, the report is the trial call.
    /// </summary>
    public ValueTask RecordAsync(Exception? failure)
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

        return AwaitRecordAsync(pending, context);

        static async ValueTask AwaitRecordAsync(ValueTask<Outcome<object?>> pending, ResilienceContext context)
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
