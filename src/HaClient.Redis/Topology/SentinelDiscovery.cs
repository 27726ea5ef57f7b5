using System.Globalization;
using StackExchange.Redis;

namespace HaClient.Redis;

/// <summary>What the Sentinels said in one round: how many answered, and each address they named with its votes, most
/// votes first.</summary>
internal sealed record SentinelVotes(int Answered, IReadOnlyList<(HostEndpoint Endpoint, int Votes)> Named)
{
    public static readonly SentinelVotes Silent = new(0, []);

    /// <summary>The address most Sentinels name, if any.</summary>
    public HostEndpoint? Top => Named.Count > 0 ? Named[0].Endpoint : null;

    public bool Names(HostEndpoint endpoint)
    {
        foreach (var (e, _) in Named)
        {
            if (e == endpoint)
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>
/// The Sentinels: one link each (own multiplexer, Sentinel command map), asked for the primary's address
/// (<c>SENTINEL get-master-addr-by-name</c>) every round, and subscribed to <c>+switch-master</c> and
/// <c>+selected-slave</c>, whose messages are parsed here and handed to the monitor.
/// </summary>
internal sealed class SentinelDiscovery : IAsyncDisposable
{
    private readonly SentinelLink[] _links;
    private readonly string _serviceName;
    private readonly TimeSpan _timeout;
    private readonly Action<HostEndpoint, HostEndpoint> _onSwitch;
    private readonly Action<HostEndpoint, HostEndpoint> _onSelected;

    /// <param name="sentinels">The Sentinels.</param>
    /// <param name="configure">Each link's StackExchange.Redis configuration.</param>
    /// <param name="serviceName">The monitored name.</param>
    /// <param name="timeout">The bound of each question.</param>
    /// <param name="onSwitch">(old, new) on <c>+switch-master</c>.</param>
    /// <param name="onSelected">(replica, from) on <c>+selected-slave</c>.</param>
    public SentinelDiscovery(IReadOnlyList<HostEndpoint> sentinels, Func<HostEndpoint, ConfigurationOptions> configure, string serviceName, TimeSpan timeout, Action<HostEndpoint, HostEndpoint> onSwitch, Action<HostEndpoint, HostEndpoint> onSelected)
    {
        _links = sentinels.Select(s => new SentinelLink(s, configure)).ToArray();
        _serviceName = serviceName;
        _timeout = timeout;
        _onSwitch = onSwitch;
        _onSelected = onSelected;
    }

    public void Start()
    {
        foreach (var s in _links)
        {
            _ = s.EnsureConnectedAsync(OnMessage);
        }
    }

    /// <summary>Asks every Sentinel at once, each bounded by the probe timeout.</summary>
    public async Task<SentinelVotes> AskAsync()
    {
        var asks = new Task<HostEndpoint?>[_links.Length];
        for (var i = 0; i < _links.Length; i++)
        {
            asks[i] = _links[i].GetMasterAsync(_serviceName, _timeout, OnMessage);
        }

        var votes = new Dictionary<HostEndpoint, int>();
        var answered = 0;
        foreach (var t in asks)
        {
            if (await t.ConfigureAwait(false) is { } e)
            {
                answered++;
                votes[e] = votes.GetValueOrDefault(e) + 1;
            }
        }

        return answered == 0 ? SentinelVotes.Silent : new SentinelVotes(answered, votes.OrderByDescending(kv => kv.Value).Select(kv => (kv.Key, kv.Value)).ToArray());
    }

    private void OnMessage(RedisChannel channel, RedisValue message)
    {
        var text = (string?)message ?? string.Empty;
        if (channel == SentinelLink.SelectedReplica)
        {
            if (TryParseSelectedReplica(text, _serviceName, out var replica, out var from))
            {
                _onSelected(replica, from);
            }
        }
        else if (TryParseSwitchMaster(text, _serviceName, out var old, out var @new))
        {
            _onSwitch(old, @new);
        }
    }

    /// <summary>Parses <c>+switch-master &lt;name&gt; &lt;old-ip&gt; &lt;old-port&gt; &lt;new-ip&gt; &lt;new-port&gt;</c>
    /// for <paramref name="serviceName"/>.</summary>
    internal static bool TryParseSwitchMaster(string message, string serviceName, out HostEndpoint old, out HostEndpoint @new)
    {
        var parts = message.Split(' ');
        old = @new = default;
        if (parts.Length < 5 || parts[0] != serviceName || !TryPort(parts[2], out var oldPort) || !TryPort(parts[4], out var newPort))
        {
            return false;
        }

        old = new HostEndpoint(parts[1], oldPort);
        @new = new HostEndpoint(parts[3], newPort);
        return true;
    }

    /// <summary>Parses <c>+selected-slave slave &lt;ip:port&gt; &lt;ip&gt; &lt;port&gt; @ &lt;name&gt; &lt;master-ip&gt;
    /// &lt;master-port&gt;</c> for <paramref name="serviceName"/>: the replica the leader Sentinel is promoting.</summary>
    internal static bool TryParseSelectedReplica(string message, string serviceName, out HostEndpoint replica, out HostEndpoint from)
    {
        var parts = message.Split(' ');
        replica = from = default;
        if (parts.Length < 8 || parts[0] != "slave" || parts[5] != serviceName || !TryPort(parts[3], out var replicaPort) || !TryPort(parts[7], out var fromPort))
        {
            return false;
        }

        replica = new HostEndpoint(parts[2], replicaPort);
        from = new HostEndpoint(parts[6], fromPort);
        return true;
    }

    private static bool TryPort(string text, out int port)
        => int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is > 0 and <= 65535;

    public async ValueTask DisposeAsync()
    {
        foreach (var s in _links)
        {
            await s.DisposeAsync().ConfigureAwait(false);
        }
    }
}
