using System.Buffers;
using BenchmarkDotNet.Attributes;
using HaClient.AspNetCore.Health;
using HaClient.Postgres;
using HaClient.Redis;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace HaClient.Benchmarks;

/// <summary>
/// The <c>/health</c> answers of HaClient.AspNetCore, computed from the monitors' cached state (no I/O per request):
/// the JSON body of <c>/health</c> (<c>HighAvailabilityHealth.WriteJson</c>, what the endpoint writes to the response's
/// PipeWriter) and the <c>/health/ready</c> decision (<c>Evaluate</c>). One Postgres cluster (plain lab, 3 hosts) and
/// one Redis deployment (Sentinel lab, 3 nodes), wired by <c>AddHighAvailability</c>. The ASP.NET Core request pipeline
/// itself (routing, Kestrel) is not included.
/// </summary>
[MemoryDiagnoser]
public class HealthBenchmarks
{
    private ServiceProvider _services = null!;
    private HighAvailabilityHealth _health = null!;
    private readonly ArrayBufferWriter<byte> _buffer = new(8192);

    [GlobalSetup]
    public async Task Setup()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddHighAvailability(b => b
            .AddPostgres("main", o => o.ConnectionString = "Host=127.0.0.1:15432,127.0.0.1:15433,127.0.0.1:15434;Username=haclient;Password=haclient-lab-pw;Database=haclient")
            .AddRedis("cache", o =>
            {
                o.Sentinels = ["127.0.0.1:16479", "127.0.0.1:16480", "127.0.0.1:16481"];
                o.ServiceName = "haclient";
            }));
        _services = services.BuildServiceProvider();
        var cluster = _services.GetRequiredKeyedService<PostgresCluster>("main");
        var redis = _services.GetRequiredKeyedService<RedisDeployment>("cache");
        await cluster.WaitForTopologyAsync(TimeSpan.FromSeconds(10));
        await redis.WaitForPrimaryAsync(TimeSpan.FromSeconds(10));
        _health = _services.GetRequiredService<HighAvailabilityHealth>();
        _ = Json();
        Console.WriteLine(System.Text.Encoding.UTF8.GetString(_buffer.WrittenSpan));
    }

    [GlobalCleanup]
    public async Task Cleanup() => await _services.DisposeAsync();

    [Benchmark(Description = "/health JSON body (WriteJson, cached state)")]
    public HealthStatus Json()
    {
        _buffer.ResetWrittenCount();
        return _health.WriteJson(_buffer, static (_, _) => { }, 0);
    }

    [Benchmark(Description = "/health/ready decision (Evaluate, cached state)")]
    public bool Ready() => _health.Evaluate().Ready;
}
