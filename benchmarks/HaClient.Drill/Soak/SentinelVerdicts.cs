using System.Globalization;
using HaClient.Drill.Redis;

namespace HaClient.Drill.Soak;

/// <summary>The master a majority of the Sentinels names (<c>SENTINEL get-master-addr-by-name</c> over one raw RESP
/// connection per Sentinel, 400 ms timeout), mapped to a Redis node.</summary>
internal sealed class SentinelVerdicts : MajorityVerdicts
{
    private readonly IReadOnlyList<Endpoint> _sentinels;
    private readonly string _service;
    private readonly RespProbe?[] _probes;

    public SentinelVerdicts(IReadOnlyList<string> sentinels, string service, IReadOnlyList<string> nodes)
        : base(sentinels, nodes)
    {
        _sentinels = sentinels.Select(s => Endpoint.Parse(s, "--sentinels")).ToList();
        _service = service;
        _probes = new RespProbe?[sentinels.Count];
    }

    protected override int Ask(int voter)
    {
        try
        {
            var p = _probes[voter] ??= RespProbe.Connect(_sentinels[voter].Host, _sentinels[voter].Port, TimeSpan.FromMilliseconds(400));
            return p.Command("SENTINEL", "get-master-addr-by-name", _service) is object?[] { Length: 2 } m
                && int.TryParse(m[1] as string, NumberStyles.Integer, CultureInfo.InvariantCulture, out var port)
                ? NodeOf(m[0] as string, port) : -1;
        }
        catch (Exception)
        {
            var dead = _probes[voter];
            _probes[voter] = null;
            dead?.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
    }

    public override void Stop()
    {
        base.Stop();
        foreach (var p in _probes) p?.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }
}
