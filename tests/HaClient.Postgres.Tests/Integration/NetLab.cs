using System.Diagnostics;
using Xunit;

namespace HaClient.Postgres.Tests.Integration;

/// <summary>The kernel features the lab's net part (eng/lab/netns.sh) needs for one kind of fault.</summary>
public enum NetFeature
{
    /// <summary>Network namespaces, veth pairs and a bridge (every partition test; <c>net cut NODE all</c> sets a
    /// bridge port down).</summary>
    Namespaces,

    /// <summary>Blackhole routes inside a namespace (<c>net cut NODE dcs|client</c>).</summary>
    Blackhole,

    /// <summary>A tmpfs with <c>size=</c> (<c>net fill NODE</c>).</summary>
    Tmpfs,
}

/// <summary>A lab fact that is skipped, saying which kernel feature is missing, where this machine cannot build the
/// net part's fault (each feature is probed once, with a throwaway namespace).</summary>
public sealed class NetFactAttribute : FactAttribute
{
    public NetFactAttribute(NetFeature feature)
    {
        var missing = NetProbe.Missing(NetFeature.Namespaces) ?? NetProbe.Missing(feature);
        if (missing is not null)
        {
            Skip = missing;
        }
    }
}

internal static class NetProbe
{
    private static readonly Lazy<string?> Namespaces = new(() =>
    {
        var ns = $"haclient-probe-{Environment.ProcessId}";
        try
        {
            return Sh($"ip netns add {ns} && ip -n {ns} link add br0 type bridge && ip -n {ns} link add va type veth peer name vb")
                ? null
                : "network namespaces, veth pairs or bridges are not available here (needs root and CONFIG_NET_NS, CONFIG_VETH, CONFIG_BRIDGE): partition tests skipped";
        }
        finally
        {
            Sh($"ip netns delete {ns}");
        }
    });

    private static readonly Lazy<string?> Blackhole = new(() =>
    {
        var ns = $"haclient-probe-{Environment.ProcessId}";
        try
        {
            return Sh($"ip netns add {ns} && ip -n {ns} link set lo up && ip -n {ns} route add blackhole 10.213.0.254/32")
                ? null
                : "blackhole routes cannot be added inside a namespace here: the dcs and client cuts are skipped";
        }
        finally
        {
            Sh($"ip netns delete {ns}");
        }
    });

    private static readonly Lazy<string?> Tmpfs = new(() =>
    {
        var dir = Path.Combine(Path.GetTempPath(), $"haclient-probe-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        try
        {
            return Sh($"mount -t tmpfs -o size=1m tmpfs {dir} && umount {dir}") ? null : "a sized tmpfs cannot be mounted here: the disk-full test is skipped";
        }
        finally
        {
            Directory.Delete(dir);
        }
    });

    public static string? Missing(NetFeature feature) => feature switch
    {
        NetFeature.Namespaces => Namespaces.Value,
        NetFeature.Blackhole => Blackhole.Value,
        _ => Tmpfs.Value,
    };

    private static bool Sh(string command)
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("sh", ["-c", command + " 2>/dev/null"]) { RedirectStandardOutput = true, UseShellExecute = false })!;
            if (!p.WaitForExit(10_000))
            {
                p.Kill(entireProcessTree: true);
                return false;
            }

            return p.ExitCode == 0;
        }
        catch (Exception)
        {
            return false;
        }
    }
}

/// <summary>Holds the drill lock for the partition tests and stops the net part after them (it is started only for them).</summary>
public sealed class NetLabFixture : IAsyncLifetime
{
    private IDisposable? _drillLock;

    public async Task InitializeAsync() => _drillLock = await Lab.DrillLockAsync(TimeSpan.FromMinutes(15));

    public async Task DisposeAsync()
    {
        try
        {
            await Lab.RunAsync("net down", 60);
        }
        finally
        {
            _drillLock?.Dispose();
        }
    }
}

[CollectionDefinition("net-lab")]
public sealed class NetLabCollection : ICollectionFixture<NetLabFixture>;
