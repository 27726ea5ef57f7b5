using System.Net;
using HaClient.Resilience;
using StackExchange.Redis;

namespace HaClient.Redis;

/// <summary>One Sentinel: its own multiplexer (Sentinel command map), subscribed to <c>+switch-master</c>.</summary>
internal sealed class SentinelLink
{
    /// <summary>The failover is over: the new master's address.</summary>
    internal static readonly RedisChannel SwitchMaster = RedisChannel.Literal("+switch-master");

    /// <summary>The leader Sentinel chose the replica it is promoting (sent before <c>REPLICAOF NO ONE</c>).</summary>
    internal static readonly RedisChannel SelectedReplica = RedisChannel.Literal("+selected-slave");
    private readonly Func<HostEndpoint, ConfigurationOptions> _configure;
    private readonly Lock _gate = new();
    private Task<ConnectionMultiplexer?>? _connecting;
    private volatile ConnectionMultiplexer? _mux;
    private volatile bool _subscribed;

    public SentinelLink(HostEndpoint endpoint, Func<HostEndpoint, ConfigurationOptions> configure)
    {
        Endpoint = endpoint;
        _configure = configure;
    }

    public HostEndpoint Endpoint { get; }

    public Task<ConnectionMultiplexer?> EnsureConnectedAsync(Action<RedisChannel, RedisValue> onMessage)
    {
        if (_mux is { } m)
        {
            return Task.FromResult<ConnectionMultiplexer?>(m);
        }

        lock (_gate)
        {
            return _connecting ??= ConnectAsync(onMessage);
        }
    }

    private async Task<ConnectionMultiplexer?> ConnectAsync(Action<RedisChannel, RedisValue> onMessage)
    {
        try
        {
            // With AbortOnConnectFail=false the multiplexer is returned even when the Sentinel is down, and reconnects
            // by itself; keep it (never create a second one).
            var mux = await ConnectionMultiplexer.ConnectAsync(_configure(Endpoint)).ConfigureAwait(false);
            _mux = mux;
            await TrySubscribeAsync(mux, onMessage).ConfigureAwait(false);
            return mux;
        }
        catch (Exception)
        {
            return _mux;
        }
        finally
        {
            lock (_gate)
            {
                _connecting = null;
            }
        }
    }

    private async Task TrySubscribeAsync(ConnectionMultiplexer mux, Action<RedisChannel, RedisValue> onMessage)
    {
        if (_subscribed)
        {
            return;
        }

        try
        {
            // StackExchange.Redis re-subscribes by itself after a reconnect. The handler is idempotent, so a retry
            // after a failed attempt that still registered it does no harm.
            await mux.GetSubscriber().SubscribeAsync(SwitchMaster, onMessage).ConfigureAwait(false);
            await mux.GetSubscriber().SubscribeAsync(SelectedReplica, onMessage).ConfigureAwait(false);
            _subscribed = true;
        }
        catch (Exception)
        {
            // Sentinel unreachable: retried on a later round.
        }
    }

    /// <summary>Asks this Sentinel for the master's address, bounded by <paramref name="timeout"/>. Null when it does not answer.</summary>
    public async Task<HostEndpoint?> GetMasterAsync(string serviceName, TimeSpan timeout, Action<RedisChannel, RedisValue> onMessage)
    {
        using var cts = new CancellationTokenSource();
        try
        {
            var mux = _mux ?? await Budget.WithinAsync(EnsureConnectedAsync(onMessage), timeout, cts, CancellationToken.None).ConfigureAwait(false);
            if (mux is null)
            {
                return null;
            }

            if (!_subscribed && mux.IsConnected)
            {
                _ = TrySubscribeAsync(mux, onMessage);
            }

            var ep = await Budget.WithinAsync(mux.GetServers()[0].SentinelGetMasterAddressByNameAsync(serviceName), timeout, cts, CancellationToken.None).ConfigureAwait(false);
            return ep switch
            {
                IPEndPoint ip => new HostEndpoint(ip.Address.ToString(), ip.Port),
                DnsEndPoint dns => new HostEndpoint(dns.Host, dns.Port),
                _ => null,
            };
        }
        catch (Exception)
        {
            return null;
        }
    }

    public async Task DisposeAsync()
    {
        var mux = _mux;
        _mux = null;
        if (mux is not null)
        {
            try
            {
                await mux.CloseAsync(allowCommandsToComplete: false).WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
                await mux.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception)
            {
            }
        }
    }
}
