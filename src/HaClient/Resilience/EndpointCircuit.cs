using System.Diagnostics;
using System.Runtime.CompilerServices;
using Polly;
using Polly.CircuitBreaker;
using HaClient.Telemetry;

namespace HaClient.Resilience;

/// <summary>
/// The circuit breaker of one endpoint (Polly v8). Routing reads <see cref="IsAvailable"/> (a field read, no allocation)
/// to skip isolated endpoints; calls run through <see cref="ExecuteBoundedAsync{T, TState}"/>.
/// </summary>
internal sealed class EndpointCircuit
{
    private readonly CircuitBreakerStateProvider _state = new();
    private readonly CircuitBreakerManualControl _control = new();
    private readonly ResiliencePipeline _pipeline;
    private readonly long _breakTicks;
    private long _openedAt;

    public EndpointCircuit(string cluster, string endpoint, EndpointResilienceOptions options, Func<Exception, bool> isEndpointFailure)
    {
        Endpoint = endpoint;
        _breakTicks = (long)(options.BreakerBreakDuration.TotalSeconds * Stopwatch.Frequency);
        _pipeline = new ResiliencePipelineBuilder { Name = $"{cluster}/{endpoint}" }
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                FailureRatio = options.BreakerFailureRatio,
                MinimumThroughput = options.BreakerMinimumThroughput,
                SamplingDuration = options.BreakerSamplingDuration,
                BreakDuration = options.BreakerBreakDuration,
                StateProvider = _state,
                ManualControl = _control,
                ShouldHandle = args => new ValueTask<bool>(args.Outcome.Exception is { } e && isEndpointFailure(e)),
                OnOpened = _ =>
                {
                    Volatile.Write(ref _openedAt, Stopwatch.GetTimestamp());
                    return Transition(cluster, endpoint, "open");
                },
                OnClosed = _ => Transition(cluster, endpoint, "closed"),
                OnHalfOpened = _ => Transition(cluster, endpoint, "half_open"),
            })
            .Build();
    }

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
        CircuitState.Open => Stopwatch.GetTimestamp() - Volatile.Read(ref _openedAt) >= _breakTicks,
        _ => false,
    };

    /// <summary>Runs a call through the breaker's pipeline, with no budget. Throws <see cref="BrokenCircuitException"/> when
    /// open. The product's calls use <see cref="ExecuteBoundedAsync{T, TState}"/>; this plain form is what the unit tests
    /// and the breaker benchmark compare with a raw Polly pipeline.</summary>
    public ValueTask<TResult> ExecuteAsync<TResult, TState>(Func<TState, CancellationToken, ValueTask<TResult>> callback, TState state, CancellationToken cancellationToken)
        => _pipeline.ExecuteAsync(callback, state, cancellationToken);

    /// <summary>
    /// Runs <paramref name="call"/> through the breaker within <paramref name="remaining"/> (see <see cref="Budget"/>).
    /// While the circuit is closed (nearly always) the call runs outside Polly's pipeline and its outcome is reported when
    /// it ends (<see cref="RecordAsync"/>); otherwise it runs inside, so Polly admits one trial call at a time and rejects
    /// the rest with <see cref="BrokenCircuitException"/>. Pooled: await the result once.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<T> ExecuteBoundedAsync<T, TState>(Func<TState, CancellationToken, Task<T>> call, TState state, TimeSpan remaining, CancellationToken cancellationToken)
    {
        if (!IsClosed)
        {
            return await ExecuteInsideAsync(call, state, remaining, cancellationToken).ConfigureAwait(false);
        }

        // Inline rather than through Budget.RunAsync: one pooled state machine fewer on every call.
        var cts = Budget.RentSource();
        var task = call(state, cts.Token);
        T result;
        try
        {
            result = await task.WaitAsync(Budget.AtLeastOneMillisecond(remaining), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Budget.Settle(task, cts, e, cancellationToken);
            await RecordAsync(e).ConfigureAwait(false);
            throw;
        }

        Budget.ReturnSource(cts);
        await RecordAsync(null).ConfigureAwait(false);
        return result;
    }

    private async ValueTask<T> ExecuteInsideAsync<T, TState>(Func<TState, CancellationToken, Task<T>> call, TState state, TimeSpan remaining, CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        try
        {
            var outcome = await _pipeline.ExecuteOutcomeAsync(
                static (ctx, s) => Budget.RunAsync(s.call, s.state, s.remaining, ctx.CancellationToken),
                context,
                (call, state, remaining)).ConfigureAwait(false);
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
