using System.Diagnostics;
using HaClient.Postgres;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace HaClient.Drill.Soak;

/// <summary>
/// The soak's PostgreSQL workload through HaClient, the drill's mixed workload run without end: each worker writes a
/// row (with a consistency token), reads it back with that token (read-your-writes), then makes a bounded read that
/// must see every write acknowledged more than the lag bound ago, and pauses 10 ms.
/// </summary>
internal sealed class PgSoakWorkload : IAsyncDisposable
{
    public const string Table = "haclient_drill_writes";
    private readonly PgTarget _target;
    private readonly SoakArgs _args;
    private readonly PgObserver _observer;
    private readonly ILoggerFactory _loggerFactory;
    private readonly PostgresCluster _cluster;
    private readonly RollingTimeline<long> _timeline = new(Math.Max);
    private readonly long _idBase = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000;
    private long _next;
    private volatile SoakWindow<long> _window;
    private Task[] _workers = [];

    public PgSoakWorkload(PgTarget target, SoakArgs args, PgObserver observer)
    {
        _target = target;
        _args = args;
        _observer = observer;
        _window = new SoakWindow<long>(args.BudgetMs + 500);
        _loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; })
            .SetMinimumLevel(LogLevel.Warning).AddFilter("Npgsql", LogLevel.Error));
        _cluster = PostgresCluster.Create(new PostgresClusterOptions
        {
            ConnectionString = target.ConnectionString,
            PatroniUrls = args.PatroniUrls.ToList(),
            ReplicaLag = { MaxLagTime = TimeSpan.FromMilliseconds(args.LagBoundMs) },
            Resilience = { OperationTimeout = TimeSpan.FromMilliseconds(args.BudgetMs) },
        }, _loggerFactory, "haclient-drill");
    }

    /// <summary>Creates the table (on the primary) if it is missing, writes the marker row and starts the workers.</summary>
    public async Task StartAsync(CancellationToken stop)
    {
        await _cluster.WaitForTopologyAsync(TimeSpan.FromSeconds(10), stop);
        await EnsureTableAsync(stop);
        _workers = Enumerable.Range(0, _args.Concurrency).Select(_ => Task.Run(() => WorkAsync(stop), CancellationToken.None)).ToArray();
    }

    /// <summary>The table and this run's marker row (id = the run's id base, never a worker's id): when the marker is
    /// gone, the lab rebuilt the cluster from empty data.</summary>
    private async Task EnsureTableAsync(CancellationToken ct, bool withMarker = true)
    {
        await _cluster.ExecuteWriteAsync(async (c, t) =>
        {
            await using var cmd = new NpgsqlCommand($"CREATE TABLE IF NOT EXISTS {Table}(id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp()){(withMarker ? $"; INSERT INTO {Table}(id) VALUES (@m) ON CONFLICT DO NOTHING" : "")}", c);
            cmd.Parameters.AddWithValue("m", _idBase);
            return await cmd.ExecuteNonQueryAsync(t);
        }, ct);
    }

    /// <summary>Starts a new window and returns the one that ends.</summary>
    public SoakWindow<long> BeginWindow() => Interlocked.Exchange(ref _window, new SoakWindow<long>(_args.BudgetMs + 500));

    /// <summary>Rolls the bounded-read timeline (after a heal): a long run keeps two windows' writes.</summary>
    public void Roll() => _timeline.Roll();

    public async Task StopAsync() => await Task.WhenAll(_workers);

    /// <summary>The acknowledged writes of <paramref name="acks"/> missing on the current primary, or null when no
    /// primary answered.</summary>
    public async Task<MissingWrites<long>?> MissingAsync(IReadOnlyList<SoakAck<long>> acks, CancellationToken ct)
    {
        var primary = _observer.PrimaryNow();
        if (primary < 0) return null;
        await using var c = new NpgsqlConnection(_target.ForHost(primary, "haclient-drill-check"));
        await c.OpenAsync(ct);
        if (!await TableHasMarkerAsync(c, ct))
        {
            await EnsureTableAsync(ct);
            return new MissingWrites<long>(acks.ToList(), Reset: true);
        }

        var found = new HashSet<long>();
        foreach (var chunk in acks.Select(a => a.Key).Chunk(5000))
        {
            await using var cmd = new NpgsqlCommand($"SELECT id FROM {Table} WHERE id = ANY(@ids)", c) { CommandTimeout = 30 };
            cmd.Parameters.AddWithValue("ids", chunk);
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct)) found.Add(r.GetInt64(0));
        }

        return new MissingWrites<long>(acks.Where(a => !found.Contains(a.Key)).ToList(), Reset: false);
    }

    private async Task<bool> TableHasMarkerAsync(NpgsqlConnection c, CancellationToken ct)
    {
        await using var exists = new NpgsqlCommand($"SELECT to_regclass('{Table}') IS NOT NULL", c);
        if (!(bool)(await exists.ExecuteScalarAsync(ct))!) return false;
        await using var marker = new NpgsqlCommand($"SELECT EXISTS (SELECT 1 FROM {Table} WHERE id = @m)", c);
        marker.Parameters.AddWithValue("m", _idBase);
        return (bool)(await marker.ExecuteScalarAsync(ct))!;
    }

    private async Task WorkAsync(CancellationToken stop)
    {
        var callCap = TimeSpan.FromMilliseconds(_args.BudgetMs * 3);
        for (var ops = 0; !stop.IsCancellationRequested && ops < 10_000_000; ops++)
        {
            var w = _window;
            var id = _idBase + Interlocked.Increment(ref _next);
            var started = Lab.NowUnixMs();
            var t0 = Stopwatch.GetTimestamp();
            ConsistencyToken token = default;
            try
            {
                using var cts = new CancellationTokenSource(callCap);
                var r = await _cluster.ExecuteWriteWithTokenAsync((c, ct) => InsertAsync(c, id, ct), cts.Token);
                var at = Lab.NowUnixMs();
                token = r.Token;
                w.Acks.Enqueue(new SoakAck<long>(id, _observer.NodeOf(r.Value), started, at));
                _timeline.Add(at, id);
            }
            catch (Exception e)
            {
                w.WriteFailed(e is WriteOutcomeUnknownException);
                if (IsUndefinedTable(e)) await RecreateAsync(stop);
            }

            w.Call(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            var witness = _timeline.Before(Lab.NowUnixMs() - _args.LagBoundMs);
            foreach (var (mustSee, consistency) in new[] { (token != default ? id : 0L, ReadConsistency.AtLeast(token)), (witness, ReadConsistency.WithinLagBound) })
            {
                if (mustSee == 0) continue;
                var r0 = Stopwatch.GetTimestamp();
                try
                {
                    using var cts = new CancellationTokenSource(callCap);
                    var (seen, server) = await _cluster.ExecuteReadAsync((c, ct) => ExistsAsync(c, mustSee, ct), consistency, cts.Token);
                    w.Read(seen, mustSee, seen ? null : $"{(consistency.Kind == ReadConsistencyKind.AtLeast ? "token" : "bounded")} read on {server}");
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

    private int _recreating;

    /// <summary>The lab's repair rebuilt the cluster from empty data (the table is gone): one worker creates it again,
    /// without the marker, so that the window's lost-write check still sees the reset (until 55f9792 the marker was
    /// written again here, and a rebuild's lost writes were counted as another cause).</summary>
    private async Task RecreateAsync(CancellationToken ct)
    {
        if (Interlocked.Exchange(ref _recreating, 1) == 1) return;
        try
        {
            await EnsureTableAsync(ct, withMarker: false);
        }
        catch (Exception) when (!ct.IsCancellationRequested)
        {
        }
        finally
        {
            Volatile.Write(ref _recreating, 0);
        }
    }

    private static bool IsUndefinedTable(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is PostgresException { SqlState: PostgresErrorCodes.UndefinedTable }) return true;
        }

        return false;
    }

    private static async Task<string> InsertAsync(NpgsqlConnection c, long id, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand($"INSERT INTO {Table}(id) VALUES (@id) RETURNING coalesce(host(inet_server_addr()), 'local') || ':' || inet_server_port()", c);
        cmd.Parameters.AddWithValue("id", id);
        return (string)(await cmd.ExecuteScalarAsync(ct))!;
    }

    /// <summary>Whether the row is there, and the server that answered (for a stale read's detail).</summary>
    private static async Task<(bool, string)> ExistsAsync(NpgsqlConnection c, long id, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand($"SELECT EXISTS (SELECT 1 FROM {Table} WHERE id = @id), coalesce(host(inet_server_addr()), 'local') || ':' || inet_server_port()", c);
        cmd.Parameters.AddWithValue("id", id);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        await r.ReadAsync(ct);
        return (r.GetBoolean(0), r.GetString(1));
    }

    public async ValueTask DisposeAsync()
    {
        await _cluster.DisposeAsync();
        _loggerFactory.Dispose();
    }
}
