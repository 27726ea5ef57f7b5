using BenchmarkDotNet.Attributes;
using HaClient.Failover;
using HaClient.Resilience;
using Microsoft.Extensions.Logging.Abstractions;

namespace HaClient.Benchmarks;

/// <summary>
/// The failover engine's own cost per operation, without a server: one endpoint, a call that yields once (so every
/// layer really suspends and resumes, as on I/O) through the endpoint's breaker and deadline, vs the same yielding call
/// alone (baseline). The difference is routing, the bounded call (waiter, deadline, in-flight registry), the breaker's
/// report and the telemetry checks.
/// <c>dotnet run -c Release --project benchmarks/HaClient.Benchmarks -- --filter '*EngineBenchmarks*'</c>
/// </summary>
[MemoryDiagnoser]
public class EngineBenchmarks
{
    private FailoverEngine<Endpoint, int> _engine = null!;

    [GlobalSetup]
    public void Setup()
    {
        var endpoint = new Endpoint(new EndpointCircuit("bench", "127.0.0.1:1", new EndpointResilienceOptions(), static _ => FailureKind.EndpointFailure, TimeProvider.System));
        _engine = new FailoverEngine<Endpoint, int>("bench", "postgresql", new OneEndpoint(endpoint), static _ => FailureKind.EndpointFailure, TimeSpan.FromSeconds(2), TimeSpan.FromMilliseconds(100), TimeProvider.System, NullLogger.Instance);
    }

    [Benchmark(Baseline = true, Description = "the yielding call alone")]
    public async Task<int> Bare()
    {
        await Task.Yield();
        return 1;
    }

    [Benchmark(Description = "FailoverEngine.ExecuteReadAsync, yielding call")]
    public Task<int> Read() => _engine.ExecuteReadAsync<int, YieldingCall>(0, default, CancellationToken.None);

    [Benchmark(Description = "FailoverEngine.ExecuteWriteAsync, yielding call")]
    public Task<int> Write() => _engine.ExecuteWriteAsync<int, YieldingCall>(default, CancellationToken.None);

    public sealed record Endpoint(EndpointCircuit Circuit);

    private readonly struct YieldingCall : IEndpointCall<Endpoint, int>
    {
        public ValueTask<int> RunAsync(Endpoint endpoint, WriteProgress? progress, OperationDeadline deadline, CancellationToken cancellationToken)
            => endpoint.Circuit.ExecuteBoundedAsync(static (p, _) => YieldAsync(p), progress, deadline, cancellationToken);

        private static async ValueTask<int> YieldAsync(WriteProgress? progress)
        {
            await Task.Yield();
            progress?.MarkSent();
            return 1;
        }
    }

    private sealed class OneEndpoint(Endpoint endpoint) : IFailoverTopology<Endpoint, int>
    {
        public Task Changed { get; } = new TaskCompletionSource().Task;

        public Endpoint? SelectWriter() => endpoint.Circuit.IsAvailable ? endpoint : null;

        public Endpoint? SelectReader(int intent, Endpoint? exclude) => endpoint.Circuit.IsAvailable && exclude != endpoint ? endpoint : null;

        public bool IsPrimary(Endpoint e) => true;

        public string NameOf(Endpoint e) => e.Circuit.Endpoint;

        public void RequestProbe()
        {
        }

        public void ReportNotPrimary(Endpoint e)
        {
        }

        public void ReportEndpointFailure(Endpoint e, Exception failure)
        {
        }

        public bool ProvesNotSent(Exception failure) => false;
    }
}
