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

    public EndpointCircuit(string cluster, string endpoint, EndpointResilienceOptions options, Func<Exception, bool> isEndpointFailure)
    {
        Endpoint = endpoint;
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
                OnOpened = _ => Transition(cluster, endpoint, "open"),
                OnClosed = _ => Transition(cluster, endpoint, "closed"),
                OnHalfOpened = _ => Transition(cluster, endpoint, "half_open"),
            })
            .Build();
    }

    /// <summary>host:port.</summary>
    public string Endpoint { get; }

    /// <summary>The circuit state.</summary>
    public CircuitState State => _state.CircuitState;

    /// <summary>Whether routing may pick this endpoint (closed or half-open).</summary>
    public bool IsAvailable => _state.CircuitState is CircuitState.Closed or CircuitState.HalfOpen;

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
