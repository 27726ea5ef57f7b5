using System.Diagnostics;
using System.Text.Json;
using Npgsql;

namespace HaClient.Drill;

/// <summary>
/// The partition drills' independent observer (root namespace, like the client): every 50 ms it reads <c>/cluster</c>
/// from each Patroni REST endpoint and asks each node <c>pg_is_in_recovery()</c> (one loop each). It records, after the fault:
/// when a majority of the endpoints (2 of 3) first named a leader other than the old one, when the old leader first
/// answered as read-only, and when another node first answered as writable.
/// </summary>
internal sealed class PatroniObserver(string oldLeader)
{
    private const string Credentials = "Username=haclient;Password=haclient-lab-pw;Database=haclient";
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromMilliseconds(400) };

    /// <summary>Unix ms of the fault (set by the drill once injected; 0 before).</summary>
    public double FaultAt { get; set; }

    public double MajorityAt { get; private set; }

    public double OldReadOnlyAt { get; private set; }

    public double NewWritableAt { get; private set; }

    public async Task RunAsync(CancellationToken stop)
    {
        // One loop per endpoint and per node, so that one that hangs (the old leader's REST blocks on the DCS it cannot
        // reach) does not slow the others' timestamps.
        var n = PartitionDrill.Nodes.Length;
        var named = new string?[n];
        var loops = new List<Task>();
        for (var i = 0; i < n; i++)
        {
            var k = i;
            var node = PartitionDrill.Nodes[k];
            loops.Add(EveryAsync(stop, async () =>
            {
                var leader = await LeaderNamedByAsync(node, stop);
                lock (named)
                {
                    named[k] = leader;
                    if (FaultAt > 0 && MajorityAt == 0 && named.Where(l => l is not null && l != oldLeader).GroupBy(l => l).Any(g => g.Count() * 2 > n))
                    {
                        MajorityAt = Lab.NowUnixMs();
                    }
                }
            }));
            var source = NpgsqlDataSource.Create($"Host={PartitionDrill.Addr(node)};{Credentials};Timeout=1;Command Timeout=1;Maximum Pool Size=2");
            loops.Add(EveryAsync(stop, async () =>
            {
                var inRecovery = await InRecoveryAsync(source, stop);
                var now = Lab.NowUnixMs();
                lock (named)
                {
                    if (FaultAt == 0 || now < FaultAt)
                    {
                        return;
                    }

                    if (node == oldLeader && OldReadOnlyAt == 0 && inRecovery == true)
                    {
                        OldReadOnlyAt = now;
                    }
                    else if (node != oldLeader && NewWritableAt == 0 && inRecovery == false)
                    {
                        NewWritableAt = now;
                    }
                }
            }, source));
        }

        await Task.WhenAll(loops);
        _http.Dispose();
    }

    private static async Task EveryAsync(CancellationToken stop, Func<Task> probe, IAsyncDisposable? owned = null)
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var t0 = Stopwatch.GetTimestamp();
                await probe();
                var left = TimeSpan.FromMilliseconds(50) - Stopwatch.GetElapsedTime(t0);
                try
                {
                    await Task.Delay(left > TimeSpan.Zero ? left : TimeSpan.Zero, stop);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
        finally
        {
            if (owned is not null)
            {
                await owned.DisposeAsync();
            }
        }
    }

    private async Task<string?> LeaderNamedByAsync(string node, CancellationToken stop)
    {
        try
        {
            await using var body = await _http.GetStreamAsync($"http://{PartitionDrill.Addr(node)}:8008/cluster", stop);
            using var doc = await JsonDocument.ParseAsync(body, cancellationToken: stop);
            foreach (var m in doc.RootElement.GetProperty("members").EnumerateArray())
            {
                if (m.GetProperty("role").GetString() is "leader" or "master")
                {
                    return m.GetProperty("name").GetString();
                }
            }
        }
        catch (Exception)
        {
        }

        return null;
    }

    private static async Task<bool?> InRecoveryAsync(NpgsqlDataSource source, CancellationToken stop)
    {
        try
        {
            await using var c = await source.OpenConnectionAsync(stop);
            await using var cmd = new NpgsqlCommand("SELECT pg_is_in_recovery()", c);
            return (bool)(await cmd.ExecuteScalarAsync(stop))!;
        }
        catch (Exception)
        {
            return null;
        }
    }
}
