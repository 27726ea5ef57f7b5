using BenchmarkDotNet.Attributes;
using HaClient.Postgres;
using Npgsql;

namespace HaClient.Benchmarks;

/// <summary>
/// HaClient's own cost per call without a round trip: rent a pooled connection to 127.0.0.1:15432, yield once (stands
/// in for the I/O completion, so every async layer really suspends), return it. Raw <see cref="NpgsqlDataSource"/> does
/// the same (baseline). The difference is routing + breaker + budget + telemetry, measured without network noise.
/// </summary>
[MemoryDiagnoser]
public class PostgresOverheadBenchmarks
{
    private const string DefaultConnectionString = "Host=127.0.0.1;Port=15432;Username=haclient;Password=haclient-lab-pw;Database=haclient";
    private NpgsqlDataSource _raw = null!;
    private PostgresCluster _cluster = null!;

    [GlobalSetup]
    public async Task Setup()
    {
        var cs = Environment.GetEnvironmentVariable("HACLIENT_BENCH_PG") is { Length: > 0 } v ? v : DefaultConnectionString;
        _raw = NpgsqlDataSource.Create(cs);
        _cluster = PostgresCluster.Create(new PostgresClusterOptions { ConnectionString = cs });
        await _cluster.WaitForTopologyAsync(TimeSpan.FromSeconds(10));
        if (_cluster.Topology.Primary is null)
        {
            throw new InvalidOperationException($"No primary at {cs}: run 'sudo bash eng/lab.sh pg up'.");
        }

        await RawDataSource();
        await HaClientExecuteReadPrimary();
        await HaClientOpenWriteConnection();
        await HaClientExecuteWrite();
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        await _cluster.DisposeAsync();
        await _raw.DisposeAsync();
    }

    [Benchmark(Baseline = true, Description = "raw NpgsqlDataSource open+yield+close")]
    public async Task<int> RawDataSource()
    {
        await using var connection = await _raw.OpenConnectionAsync();
        return await YieldAsync(connection, CancellationToken.None);
    }

    [Benchmark(Description = "HaClient ExecuteReadAsync(Primary) yield")]
    public Task<int> HaClientExecuteReadPrimary()
        => _cluster.ExecuteReadAsync(YieldAsync, ReadConsistency.Primary);

    [Benchmark(Description = "HaClient OpenWriteConnectionAsync+yield+close")]
    public async Task<int> HaClientOpenWriteConnection()
    {
        await using var connection = await _cluster.OpenWriteConnectionAsync();
        return await YieldAsync(connection, CancellationToken.None);
    }

    [Benchmark(Description = "HaClient ExecuteWriteAsync yield")]
    public Task<int> HaClientExecuteWrite()
        => _cluster.ExecuteWriteAsync(YieldAsync);

    private static async Task<int> YieldAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await Task.Yield();
        return connection.ProcessID;
    }
}
