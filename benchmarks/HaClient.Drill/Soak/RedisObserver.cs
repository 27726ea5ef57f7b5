using HaClient.Drill.Redis;

namespace HaClient.Drill.Soak;

/// <summary>Asks every Redis node <c>ROLE</c> every 5 ms over the drills' raw RESP connection (a dedicated thread per
/// node), learns each node's <c>run_id</c> (the workload's write answers it), and every 2 s counts the HaClient
/// connections it holds (<c>CLIENT LIST</c>, name <c>haclient</c>).</summary>
internal sealed class RedisObserver(IReadOnlyList<Endpoint> nodes, string? password) : NodeObserver(nodes.Select(n => n.ToString()).ToList(), "redis")
{
    public IReadOnlyList<Endpoint> Nodes => nodes;

    /// <summary>Asks the Sentinels for the master and its replicas: the nodes to observe.</summary>
    public static IReadOnlyList<Endpoint> Discover(IReadOnlyList<string> sentinels, string service)
    {
        foreach (var s in sentinels)
        {
            try
            {
                var e = Endpoint.Parse(s, "--sentinels");
                var p = RespProbe.Connect(e.Host, e.Port, TimeSpan.FromSeconds(2));
                using var closing = new DisposeOnExit(p);
                if (p.Command("SENTINEL", "get-master-addr-by-name", service) is not object?[] { Length: 2 } m) continue;
                var list = new List<Endpoint> { new((string)m[0]!, int.Parse((string)m[1]!, System.Globalization.CultureInfo.InvariantCulture)) };
                if (p.Command("SENTINEL", "replicas", service) is object?[] replicas)
                {
                    foreach (var r in replicas.OfType<object?[]>())
                    {
                        var f = Fields(r);
                        list.Add(new Endpoint(f["ip"], int.Parse(f["port"], System.Globalization.CultureInfo.InvariantCulture)));
                    }
                }

                return list.Distinct().OrderBy(x => x.ToString(), StringComparer.Ordinal).ToList();
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or TimeoutException or InvalidCastException)
            {
            }
        }

        throw new InvalidOperationException($"no Sentinel of {sentinels.Count} named a master for service '{service}'");
    }

    private static Dictionary<string, string> Fields(object?[] flat)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < flat.Length; i += 2) d[(string)flat[i]!] = flat[i + 1] as string ?? "";
        return d;
    }

    /// <summary>Opens a probe to a node (authenticated when a password is set).</summary>
    public RespProbe Connect(int node, TimeSpan timeout)
    {
        var p = RespProbe.Connect(nodes[node].Host, nodes[node].Port, timeout);
        if (password is not null && p.Command("AUTH", password) is RespError)
        {
            p.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw new InvalidOperationException($"AUTH refused by {nodes[node]}");
        }

        return p;
    }

    protected override void Loop(int node)
    {
        RespProbe? c = null;
        double lastCount = 0;
        while (!Stopping)
        {
            try
            {
                if (c is null)
                {
                    c = Connect(node, TimeSpan.FromMilliseconds(300));
                    if (c.Command("INFO", "server") is string info)
                    {
                        var line = info.Split('\n').FirstOrDefault(l => l.StartsWith("run_id:", StringComparison.Ordinal));
                        if (line is not null) Identify(node, line["run_id:".Length..].Trim());
                    }
                }

                Sample(node, c.Role() == "master");
                if (Lab.NowUnixMs() - lastCount > 2000)
                {
                    if (c.Command("CLIENT", "LIST") is string list)
                    {
                        CountConnections(node, list.Split('\n').Count(l => l.Contains(" name=haclient ", StringComparison.Ordinal)));
                    }

                    lastCount = Lab.NowUnixMs();
                }
            }
            catch (Exception)
            {
                Unreachable(node);
                c?.DisposeAsync().AsTask().GetAwaiter().GetResult();
                c = null;
                Pause(50);
            }

            Pause();
        }

        c?.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }
}

/// <summary>Disposes a <see cref="RespProbe"/> synchronously (the observers' threads block by design).</summary>
internal readonly struct DisposeOnExit(RespProbe probe) : IDisposable
{
    public void Dispose() => probe.DisposeAsync().AsTask().GetAwaiter().GetResult();
}
