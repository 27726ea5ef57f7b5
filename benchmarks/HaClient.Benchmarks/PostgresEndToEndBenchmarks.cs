using BenchmarkDotNet.Attributes;
using HaClient.Postgres;
using Npgsql;

namespace HaClient.Benchmarks;

/// <summary>
/// <c>SELECT 1</c> on loopback to the plain lab primary (127.0.0.1:15432), one at a time: pooled open, command, close.
/// HaClient's paths vs a raw <see cref="NpgsqlDataSource"/> to the same server (the baseline; Ratio column).
/// Override the server with HACLIENT_BENCH_PG (an Npgsql connection string naming one host).
/// </summary>
[MemoryDiagnoser]
public class PostgresEndToEndBenchmarks
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

        // Fill both pools so no measured iteration pays for a physical connect.
        for (var i = 0; i < 3; i++)
        {
            await RawDataSource();
            await HaClientExecuteReadPrimary();
            await HaClientOpenWriteConnection();
        }
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        await _cluster.DisposeAsync();
        await _raw.DisposeAsync();
    }

    [Benchmark(Baseline = true, Description = "raw NpgsqlDataSource")]
    public async Task<int> RawDataSource()
    {
        await using var connection = await _raw.OpenConnectionAsync();
        return await SelectOneAsync(connection, CancellationToken.None);
    }

    [Benchmark(Description = "HaClient ExecuteReadAsync(Primary)")]
    public Task<int> HaClientExecuteReadPrimary()
        => _cluster.ExecuteReadAsync(SelectOneAsync, ReadConsistency.Primary);

    [Benchmark(Description = "HaClient OpenWriteConnectionAsync")]
    public async Task<int> HaClientOpenWriteConnection()
    {
        await using var connection = await _cluster.OpenWriteConnectionAsync();
        return await SelectOneAsync(connection, CancellationToken.None);
    }

    [Benchmark(Description = "HaClient ExecuteWriteAsync")]
    public Task<int> HaClientExecuteWrite()
        => _cluster.ExecuteWriteAsync(SelectOneAsync);

    private static async Task<int> SelectOneAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SELECT 1", connection);
        return (int)(await command.ExecuteScalarAsync(cancellationToken))!;
    }
}
