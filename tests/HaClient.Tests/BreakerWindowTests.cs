using HaClient.Resilience;
using Microsoft.Extensions.Time.Testing;
using Polly;
using Polly.CircuitBreaker;
using Xunit;

namespace HaClient.Tests.Unit;

/// <summary>While the circuit is closed HaClient counts the failure-ratio rule itself (<see cref="BreakerWindow"/>); it
/// must open exactly when Polly's own breaker, fed the same outcomes on the same clock, opens.</summary>
public class BreakerWindowTests
{
    [Theory]
    [InlineData(1, 0.5, 4)]
    [InlineData(2, 0.3, 10)]
    [InlineData(3, 0.8, 2)]
    [InlineData(4, 0.5, 20)]
    public async Task The_ratio_rule_opens_at_the_same_outcome_as_Polly_s_breaker(int seed, double ratio, int minimumThroughput)
    {
        var random = new Random(seed);
        for (var run = 0; run < 20; run++)
        {
            var time = new FakeTimeProvider();
            var options = new EndpointResilienceOptions
            {
                BreakerFailureRatio = ratio,
                BreakerMinimumThroughput = minimumThroughput,
                BreakerSamplingDuration = TimeSpan.FromSeconds(10),
                BreakerBreakDuration = TimeSpan.FromMinutes(1),
            };
            var circuit = new EndpointCircuit("t", "h:1", options, static e => e is IOException ? FailureKind.EndpointFailure : FailureKind.ServerError, time);
            var polly = new CircuitBreakerStateProvider();
            var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
                .AddCircuitBreaker(new CircuitBreakerStrategyOptions
                {
                    FailureRatio = ratio,
                    MinimumThroughput = minimumThroughput,
                    SamplingDuration = options.BreakerSamplingDuration,
                    BreakDuration = options.BreakerBreakDuration,
                    StateProvider = polly,
                    ShouldHandle = static args => new ValueTask<bool>(args.Outcome.Exception is IOException),
                })
                .Build();

            var failureShare = random.NextDouble();
            for (var step = 0; step < 400 && polly.CircuitState == CircuitState.Closed; step++)
            {
                // Outcomes spread over several windows and whole sampling durations, some at the same instant.
                time.Advance(TimeSpan.FromMilliseconds(random.Next(4) == 0 ? 0 : random.Next(1, 1500)));
                Exception? outcome = random.NextDouble() < failureShare ? new IOException() : random.Next(3) == 0 ? new InvalidOperationException() : null;
                await circuit.RecordAsync(outcome);
                await pipeline.ExecuteOutcomeAsync(static (_, e) => new ValueTask<Outcome<object?>>(e is null ? Outcome.FromResult<object?>(null) : Outcome.FromException<object?>(e)), ResilienceContextPool.Shared.Get(), outcome);
                Assert.True(
                    (polly.CircuitState == CircuitState.Closed) == circuit.IsClosed,
                    $"seed {seed}, run {run}, step {step}: Polly {polly.CircuitState}, HaClient {circuit.State}");
            }
        }
    }
}
