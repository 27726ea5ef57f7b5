using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace HaClient.Postgres;

/// <summary>
/// Reads Patroni's <c>/cluster</c> from every address at once and vetoes writes to every member that a majority of the
/// answers does not name leader (<see cref="PatroniLeaderVote"/>): a member cut off from the DCS may still call itself
/// leader. When no address answers, it vetoes nothing and the PostgreSQL probes alone decide.
/// </summary>
internal sealed partial class PatroniWatcher : IAsyncDisposable
{
    private readonly IList<string> _urls;
    private readonly HostSlot[] _slots;
    private readonly PostgresClusterOptions _options;
    private readonly Action _onChange;
    private readonly ILogger _logger;
    private readonly HttpClient _http;
    private Task _loop = Task.CompletedTask;

    public PatroniWatcher(IList<string> urls, HostSlot[] slots, PostgresClusterOptions options, Action onChange, ILogger logger)
    {
        _urls = urls;
        _slots = slots;
        _options = options;
        _onChange = onChange;
        _logger = logger;
        _http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
    }

    public void Start(CancellationToken stop) => _loop = Task.Run(() => LoopAsync(stop));

    private async Task LoopAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            var leader = await ReadLeaderAsync(stop).ConfigureAwait(false);
            var changed = false;
            foreach (var slot in _slots)
            {
                var veto = leader.Answered && !slot.Endpoint.Equals(leader.Endpoint);
                if (slot.PatroniVeto != veto)
                {
                    slot.PatroniVeto = veto;
                    changed = true;
                    if (!veto)
                    {
                        // Patroni names this member leader: probe it now rather than at the next interval.
                        slot.Wake.Set();
                    }
                }
            }

            if (changed)
            {
                _onChange();
            }

            var fast = leader.Endpoint is null || _slots.All(s => s.State.Role != PostgresRole.Primary);
            try
            {
                await Task.Delay(fast ? _options.FailoverProbeInterval : _options.ProbeInterval, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task<(bool Answered, HostEndpoint? Endpoint)> ReadLeaderAsync(CancellationToken stop)
    {
        // Every endpoint at once; the round ends as soon as a majority of all the endpoints agrees, so that one that
        // hangs (a member cut off from the DCS blocks on it) costs no ProbeTimeout once the others have settled.
        var pending = new List<Task<PatroniAnswer>>(_urls.Count);
        for (var i = 0; i < _urls.Count; i++)
        {
            pending.Add(ReadOneAsync(_urls[i], stop));
        }

        var reads = pending.ToArray();
        var answers = new PatroniAnswer[reads.Length];
        while (pending.Count > 0)
        {
            var done = await Task.WhenAny(pending).ConfigureAwait(false);
            pending.Remove(done);
            answers[Array.IndexOf(reads, done)] = await done.ConfigureAwait(false);
            if (PatroniLeaderVote.TrySettle(answers, out var settled))
            {
                return (settled.Answered, settled.Leader);
            }
        }

        var verdict = PatroniLeaderVote.Decide(answers);
        return (verdict.Answered, verdict.Leader);
    }

    private async Task<PatroniAnswer> ReadOneAsync(string url, CancellationToken stop)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(stop);
        cts.CancelAfter(_options.ProbeTimeout);
        try
        {
            await using var body = await _http.GetStreamAsync(new Uri(new Uri(url), "/cluster"), cts.Token).ConfigureAwait(false);
            using var doc = await JsonDocument.ParseAsync(body, cancellationToken: cts.Token).ConfigureAwait(false);
            foreach (var m in doc.RootElement.GetProperty("members").EnumerateArray())
            {
                if (m.TryGetProperty("role", out var role) && role.GetString() is "leader" or "standby_leader"
                    && m.TryGetProperty("host", out var host) && m.TryGetProperty("port", out var port))
                {
                    return new PatroniAnswer(true, new HostEndpoint(host.GetString() ?? string.Empty, port.GetInt32()));
                }
            }

            return new PatroniAnswer(true, null);
        }
        catch (Exception e) when (!stop.IsCancellationRequested)
        {
            LogPatroniUnreachable(_logger, url, e.GetType().Name);
            return PatroniAnswer.Silent;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _loop.WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        }
        catch (Exception)
        {
        }

        _http.Dispose();
    }

    [LoggerMessage(EventId = 1010, Level = LogLevel.Debug, Message = "Patroni REST {Url} did not answer ({Error})")]
    private static partial void LogPatroniUnreachable(ILogger logger, string url, string error);
}
