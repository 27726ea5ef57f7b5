using System.Text.Json;

namespace HaClient.Drill.Soak;

/// <summary>The leader a majority of Patroni's REST endpoints names (<c>/cluster</c>, 400 ms timeout: a member cut off
/// from etcd blocks on it). The member's <c>host</c> and <c>port</c> map it to a PostgreSQL node.</summary>
internal sealed class PatroniVerdicts : MajorityVerdicts
{
    private readonly IReadOnlyList<string> _urls;

    public PatroniVerdicts(IReadOnlyList<string> urls, IReadOnlyList<string> nodes)
        : base(urls, nodes)
    {
        _urls = urls;
    }

    private readonly HttpClient _http = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromSeconds(30), ConnectTimeout = TimeSpan.FromMilliseconds(400) })
    {
        Timeout = TimeSpan.FromMilliseconds(400),
    };

    public override void Stop()
    {
        base.Stop();
        _http.Dispose();
    }

    protected override int Ask(int voter)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, _urls[voter].TrimEnd('/') + "/cluster");
        using var response = _http.Send(request);
        if (!response.IsSuccessStatusCode) return -1;
        using var doc = JsonDocument.Parse(response.Content.ReadAsStream());
        foreach (var m in doc.RootElement.GetProperty("members").EnumerateArray())
        {
            if (m.GetProperty("role").GetString() is not ("leader" or "master")) continue;
            var host = m.TryGetProperty("host", out var h) ? h.GetString() : null;
            return NodeOf(host, m.TryGetProperty("port", out var p) && p.TryGetInt32(out var port) ? port : 5432);
        }

        return -1;
    }
}
