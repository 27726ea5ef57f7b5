using System.Diagnostics;
using System.Globalization;
using HaClient.Redis;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace HaClient.Drill.Soak;

/// <summary>
/// The soak's Redis workload through HaClient (RedisDeployment over Sentinel), the Redis drill's mixed workload run
/// without end: each worker SETs a key (durable: <c>WAIT</c> for <see cref="SoakArgs.RedisWaitReplicas"/> replicas),
/// then reads, replica preferred, a key acknowledged more than the lag bound ago (it must be there), and pauses 10 ms.
/// </summary>
internal sealed class RedisSoakWorkload : IAsyncDisposable
{
    // SET the key and answer the run_id of the node that executed it: the ack names its server.
    private const string WriteScript = "redis.call('SET', KEYS[1], ARGV[1], 'EX', 3600) return string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')";
    private readonly SoakArgs _args;
    private readonly RedisObserver _observer;
    private readonly ILoggerFactory _loggerFactory;
    private readonly RedisDeployment _deployment;
    private readonly RollingTimeline<string?> _timeline = new(static (_, newer) => newer);
    private readonly string _prefix = "haclient-drill:" + DateTime.UtcNow.ToString("yyyyMMddHHmmssfff", CultureInfo.InvariantCulture) + ":";
    private long _next;
    private volatile SoakWindow<string> _window;
    private Task[] _workers = [];

    public RedisSoakWorkload(SoakArgs args, RedisObserver observer)
    {
        _args = args;
        _observer = observer;
        _window = new SoakWindow<string>(args.BudgetMs + 500);
        _loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; }).SetMinimumLevel(LogLevel.Warning));
        _deployment = RedisDeployment.Create(new RedisOptions
        {
            Sentinels = args.Sentinels.ToList(),
            ServiceName = args.RedisService,
            Password = args.RedisPassword,
            Resilience = { OperationTimeout = TimeSpan.FromMilliseconds(args.BudgetMs) },
            WaitReplicas = args.RedisWaitReplicas,
            WaitTimeout = TimeSpan.FromMilliseconds(Math.Min(500, args.BudgetMs / 2)),
        }, _loggerFactory, "haclient-drill");
    }

    public async Task StartAsync(CancellationToken stop)
    {
        if (!await _deployment.WaitForPrimaryAsync(TimeSpan.FromSeconds(10), stop)) throw new InvalidOperationException("HaClient found no Redis master through the Sentinels");
        await SetMarkerAsync(stop);
        _workers = Enumerable.Range(0, _args.Concurrency).Select(_ => Task.Run(() => WorkAsync(stop), CancellationToken.None)).ToArray();
    }

    /// <summary>This run's marker key: when it is gone, the lab rebuilt Redis from empty data.</summary>
    private string Marker => _prefix + "marker";

    private Task SetMarkerAsync(CancellationToken ct)
        => _deployment.ExecuteWriteAsync((db, _) => db.StringSetAsync(Marker, "1", TimeSpan.FromHours(2)), cancellationToken: ct);

    public SoakWindow<string> BeginWindow() => Interlocked.Exchange(ref _window, new SoakWindow<string>(_args.BudgetMs + 500));

    public void Roll() => _timeline.Roll();

    public async Task StopAsync() => await Task.WhenAll(_workers);

    /// <summary>The acknowledged writes missing on the current master (asked directly), or null when none answered.</summary>
    public async Task<MissingWrites<string>?> MissingAsync(IReadOnlyList<SoakAck<string>> acks, CancellationToken ct)
    {
        var master = _observer.PrimaryNow();
        if (master < 0) return null;
        var result = await Task.Run(() =>
        {
            var p = _observer.Connect(master, TimeSpan.FromSeconds(10));
            using var closing = new DisposeOnExit(p);
            if (p.Command("EXISTS", Marker) is not 1L) return new MissingWrites<string>(acks.ToList(), Reset: true);
            var missing = new List<SoakAck<string>>();
            foreach (var chunk in acks.Chunk(500))
            {
                if (p.Command(["EXISTS", .. chunk.Select(a => a.Key)]) is long n && n == chunk.Length) continue;
                missing.AddRange(chunk.Where(a => p.Command("EXISTS", a.Key) is not 1L));
            }

            return new MissingWrites<string>(missing, Reset: false);
        }, ct);
        if (result.Reset) await SetMarkerAsync(ct);
        return result;
    }

    private async Task WorkAsync(CancellationToken stop)
    {
        var callCap = TimeSpan.FromMilliseconds(Math.Max(_args.BudgetMs * 3, 10_000));
        for (var ops = 0; !stop.IsCancellationRequested && ops < 10_000_000; ops++)
        {
            var w = _window;
            var key = _prefix + Interlocked.Increment(ref _next).ToString(CultureInfo.InvariantCulture);
            var started = Lab.NowUnixMs();
            var t0 = Stopwatch.GetTimestamp();
            try
            {
                using var cts = new CancellationTokenSource(callCap);
                var runId = await _deployment.ExecuteWriteAsync(async (db, _) => (string)(await db.ScriptEvaluateAsync(WriteScript, [key], [ops]))!, cancellationToken: cts.Token).WaitAsync(callCap);
                var at = Lab.NowUnixMs();
                w.Acks.Enqueue(new SoakAck<string>(key, _observer.NodeOf(runId), started, at));
                _timeline.Add(at, key);
            }
            catch (Exception e)
            {
                w.WriteFailed(e is WriteOutcomeUnknownException);
            }

            w.Call(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            var witness = _timeline.Before(Lab.NowUnixMs() - _args.LagBoundMs);
            if (witness is not null)
            {
                var r0 = Stopwatch.GetTimestamp();
                try
                {
                    using var cts = new CancellationTokenSource(callCap);
                    w.Read(await _deployment.ExecuteReadAsync((db, _) => db.KeyExistsAsync(witness), RedisReadPreference.ReplicaPreferred, cts.Token).WaitAsync(callCap), witness);
                }
                catch (Exception)
                {
                    w.ReadFailed();
                }

                w.Call(Stopwatch.GetElapsedTime(r0).TotalMilliseconds);
            }

            try
            {
                await Task.Delay(10, stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _deployment.DisposeAsync();
        _loggerFactory.Dispose();
    }
}
