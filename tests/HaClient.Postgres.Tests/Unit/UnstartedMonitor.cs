using HaClient.Postgres;
using HaClient.Resilience;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace HaClient.Postgres.Tests.Unit;

/// <summary>A Postgres topology monitor over two hosts that is never started (no thread, no I/O): tests feed it probe
/// results with <see cref="TopologyMonitor.Apply"/>.</summary>
internal static class UnstartedMonitor
{
    public static (TopologyMonitor Monitor, HostSlot[] Slots) Create(string cluster, PostgresClusterOptions options, TimeProvider time)
    {
        var slots = Enumerable.Range(0, 2).Select(i =>
        {
            var ep = new HostEndpoint("127.0.0.1", 1000 + i);
            return new HostSlot(i, ep, NpgsqlDataSource.Create($"Host=127.0.0.1;Port={1000 + i}"), NpgsqlDataSource.Create($"Host=127.0.0.1;Port={1000 + i}"),
                new EndpointCircuit(cluster, ep.ToString(), new EndpointResilienceOptions(), _ => FailureKind.EndpointFailure, time));
        }).ToArray();
        return (new TopologyMonitor(cluster, slots, options, NullLogger.Instance, time), slots);
    }

    /// <summary>A probe result for <paramref name="slot"/> taken now.</summary>
    public static PostgresHostState State(HostSlot slot, PostgresRole role, TimeProvider time)
        => new(slot.Endpoint, role, 1, 0x1000, role == PostgresRole.Replica ? 0 : null, time.GetTimestamp(), time.GetUtcNow(), TimeSpan.Zero, null);
}
