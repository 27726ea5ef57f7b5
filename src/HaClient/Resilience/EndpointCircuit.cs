using System.Diagnostics;
using Polly;
using Polly.CircuitBreaker;
using HaClient.Telemetry;

namespace HaClient.Resilience;

/// <summary>
/// The circuit breaker of one endpoint (Polly v8). Routing reads <see cref="IsAvailable"/> (a field read, no allocation)
/// to skip isolated endpoints; calls run through <see cref="ExecuteAsync{TResult, TState}"/>.
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

    /// <summary>Runs a call through the breaker. Throws <see cref="BrokenCircuitException"/> when open.</summary>
    public ValueTask<TResult> ExecuteAsync<TResult, TState>(Func<TState, CancellationToken, ValueTask<TResult>> callback, TState state, CancellationToken cancellationToken)
        => _pipeline.ExecuteAsync(callback, state, cancellationToken);

    /// <summary>Closes the circuit at once (the monitor saw the endpoint healthy and in the right role again).</summary>
    public Task ResetAsync() => _state.CircuitState == CircuitState.Closed ? Task.CompletedTask : _control.CloseAsync();

    private static ValueTask Transition(string cluster, string endpoint, string state)
    {
        HaClientTelemetry.BreakerTransitions.Add(1, new("haclient.cluster", cluster), new("haclient.endpoint", endpoint), new("haclient.breaker.state", state));
        return ValueTask.CompletedTask;
    }
}
