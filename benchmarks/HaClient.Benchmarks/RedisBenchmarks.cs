using BenchmarkDotNet.Attributes;
using HaClient.Redis;
using StackExchange.Redis;

namespace HaClient.Benchmarks;

/// <summary>
/// Redis GET and SET on loopback against the lab's current Sentinel master (Sentinels 16479-16481, service
/// <c>haclient</c>): HaClient's <see cref="RedisDeployment"/> (ExecuteReadAsync(Master) / ExecuteWriteAsync) vs a raw
/// <see cref="ConnectionMultiplexer"/> connected straight to the same master (baseline per category).
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkDotNet.Configs.BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class RedisBenchmarks
{
    private static readonly RedisKey Key = "haclient:bench:key";
    private static readonly RedisValue Value = "0123456789abcdef0123456789abcdef";
    private RedisDeployment _deployment = null!;
    private ConnectionMultiplexer _raw = null!;
    private IDatabase _rawDb = null!;

    [GlobalSetup]
    public async Task Setup()
    {
        _deployment = RedisDeployment.Create(new RedisOptions
        {
            Sentinels = { "127.0.0.1:16479", "127.0.0.1:16480", "127.0.0.1:16481" },
            ServiceName = "haclient",
        });
        if (!await _deployment.WaitForPrimaryAsync(TimeSpan.FromSeconds(10)))
        {
            throw new InvalidOperationException("No Redis master: run 'sudo bash eng/lab.sh redis up'.");
        }

        _raw = await ConnectionMultiplexer.ConnectAsync(_deployment.CurrentPrimary!);
        _rawDb = _raw.GetDatabase();
        await _rawDb.StringSetAsync(Key, Value);
        for (var i = 0; i < 3; i++)
        {
            await HaClientGet();
            await HaClientSet();
        }
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        await _deployment.DisposeAsync();
        await _raw.DisposeAsync();
    }

    [BenchmarkCategory("GET"), Benchmark(Baseline = true, Description = "raw multiplexer GET")]
    public Task<RedisValue> RawGet() => _rawDb.StringGetAsync(Key);

    [BenchmarkCategory("GET"), Benchmark(Description = "HaClient ExecuteReadAsync(Master) GET")]
    public Task<RedisValue> HaClientGet() => _deployment.ExecuteReadAsync(static (db, _) => db.StringGetAsync(Key), RedisReadPreference.Primary);

    [BenchmarkCategory("SET"), Benchmark(Baseline = true, Description = "raw multiplexer SET")]
    public Task<bool> RawSet() => _rawDb.StringSetAsync(Key, Value);

    [BenchmarkCategory("SET"), Benchmark(Description = "HaClient ExecuteWriteAsync SET")]
    public Task<bool> HaClientSet() => _deployment.ExecuteWriteAsync(static (db, _) => db.StringSetAsync(Key, Value));
}
