using BenchmarkDotNet.Attributes;
using HaClient.Resilience;
using Polly;
using Polly.CircuitBreaker;

namespace HaClient.Benchmarks;

/// <summary>
/// One call through an endpoint's breaker (<c>EndpointCircuit.ExecuteBoundedAsync</c>, closed circuit, with a budget)
/// vs the same Polly v8 circuit-breaker pipeline built directly (baseline, no budget), and vs no pipeline at all; first
/// with a callback that completes synchronously, then with one that completes asynchronously (as every real call does),
/// which is where Polly allocates; and HaClient's report for a closed circuit alone (the call runs outside the pipeline
/// and reports its outcome, which Polly takes synchronously).
/// </summary>
[MemoryDiagnoser]
public class BreakerBenchmarks
{
    private EndpointCircuit _circuit = null!;
    private ResiliencePipeline _raw = null!;
    private int _state = 42;

    [GlobalSetup]
    public void Setup()
    {
        var options = new EndpointResilienceOptions();
        _circuit = new EndpointCircuit("bench", "127.0.0.1:1", options, static e => e is TimeoutException ? FailureKind.EndpointFailure : FailureKind.ServerError, TimeProvider.System);
        _raw = new ResiliencePipelineBuilder()
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                FailureRatio = options.BreakerFailureRatio,
                MinimumThroughput = options.BreakerMinimumThroughput,
                SamplingDuration = options.BreakerSamplingDuration,
                BreakDuration = options.BreakerBreakDuration,
                ShouldHandle = static args => new ValueTask<bool>(args.Outcome.Exception is TimeoutException),
            })
            .Build();
    }

    [Benchmark(Description = "no pipeline (direct call)")]
    public ValueTask<int> Direct() => Callback(_state, CancellationToken.None);

    [Benchmark(Baseline = true, Description = "raw Polly circuit-breaker pipeline")]
    public ValueTask<int> RawPolly() => _raw.ExecuteAsync(Callback, _state, CancellationToken.None);

    [Benchmark(Description = "HaClient EndpointCircuit.ExecuteBoundedAsync (2 s budget)")]
    public ValueTask<int> HaClientCircuit() => _circuit.ExecuteBoundedAsync(static (s, _) => ValueTask.FromResult(s + 1), _state, new OperationDeadline(TimeProvider.System, TimeSpan.FromSeconds(2)), CancellationToken.None);

    [Benchmark(Description = "raw Polly pipeline, async callback (yields)")]
    public ValueTask<int> RawPollyAsync() => _raw.ExecuteAsync(YieldingCallback, _state, CancellationToken.None);

    [Benchmark(Description = "HaClient EndpointCircuit.ExecuteBoundedAsync, async callback (yields)")]
    public ValueTask<int> HaClientCircuitAsync() => _circuit.ExecuteBoundedAsync(YieldingCallback, _state, new OperationDeadline(TimeProvider.System, TimeSpan.FromSeconds(2)), CancellationToken.None);

    [Benchmark(Description = "HaClient fast path: async call outside, then EndpointCircuit.RecordAsync (yields)")]
    public async ValueTask<int> HaClientRecordAsync()
    {
        // What the Postgres hot path does while the circuit is closed: run the call, then report its outcome.
        var result = await YieldingCallback(_state, CancellationToken.None);
        await _circuit.RecordAsync(null);
        return result;
    }

    [Benchmark(Description = "HaClient EndpointCircuit.RecordAsync(null) alone (closed: a success's report)")]
    public ValueTask RecordSuccess() => _circuit.RecordAsync(null);

    private static async ValueTask<int> YieldingCallback(int state, CancellationToken cancellationToken)
    {
        await Task.Yield();
        return state + 1;
    }

    private static ValueTask<int> Callback(int state, CancellationToken cancellationToken) => ValueTask.FromResult(state + 1);
}
