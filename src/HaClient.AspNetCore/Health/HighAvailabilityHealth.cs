using System.Buffers;
using System.Text.Json;
using HaClient.Postgres;
using HaClient.Redis;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace HaClient.AspNetCore.Health;

/// <summary>Judges every configured component from the monitors' cached state and writes the health JSON. Never opens
/// a connection.</summary>
internal sealed class HighAvailabilityHealth
{
    private readonly IServiceProvider _services;
    private readonly HighAvailabilityRegistry _registry;
    private readonly IOptions<HighAvailabilityOptions> _options;
    private readonly TimeProvider _time;
    [ThreadStatic]
    private static ComponentStatus[]? t_scratch;
    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;
    private ComponentHealth[]? _components;

    private static ComponentStatus[] Scratch => t_scratch ??= new ComponentStatus[16];

    public HighAvailabilityHealth(IServiceProvider services, HighAvailabilityRegistry registry, IOptions<HighAvailabilityOptions> options, TimeProvider? time = null)
    {
        _services = services;
        _registry = registry;
        _options = options;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The components, created once (which starts their monitors if nothing did yet).</summary>
    public ComponentHealth[] Components => _components ??= CreateComponents();

    /// <summary>The overall status: the worst component's.</summary>
    public (HealthStatus Status, bool Ready) Evaluate()
    {
        var options = _options.Value.Health;
        var now = _time.GetUtcNow();
        var status = HealthStatus.Healthy;
        var ready = true;
        foreach (var c in Components)
        {
            var s = c.Evaluate(options, now);
            status = HealthJson.Worst(status, s.Status);
            ready &= s.Ready;
        }

        return (status, ready);
    }

    /// <summary>Writes <c>{"status":..., "components":[...]}</c> to <paramref name="output"/>, after telling
    /// <paramref name="onStatus"/> the overall status (so a response's status code is set before its body).</summary>
    public HealthStatus WriteJson<TState>(IBufferWriter<byte> output, Action<HealthStatus, TState> onStatus, TState state)
    {
        var options = _options.Value.Health;
        var now = _time.GetUtcNow();
        var components = Components;
        var statuses = components.Length <= Scratch.Length ? Scratch.AsSpan(0, components.Length) : new ComponentStatus[components.Length];
        var overall = HealthStatus.Healthy;
        for (var i = 0; i < components.Length; i++)
        {
            statuses[i] = components[i].Evaluate(options, now);
            overall = HealthJson.Worst(overall, statuses[i].Status);
        }

        onStatus(overall, state);
        var writer = t_writer ??= new Utf8JsonWriter(Stream.Null);
        writer.Reset(output);
        writer.WriteStartObject();
        writer.WriteString(HealthJson.Status, HealthJson.StatusText(overall));
        writer.WriteString(HealthJson.Time, now);
        writer.WriteStartArray(HealthJson.Components);
        for (var i = 0; i < components.Length; i++)
        {
            components[i].Write(writer, statuses[i], now);
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
        writer.Flush();
        writer.Reset(Stream.Null); // drop the reference to the response's writer
        statuses.Clear(); // and to the topology snapshots
        return overall;
    }

    private ComponentHealth[] CreateComponents()
    {
        var list = new List<ComponentHealth>();
        foreach (var name in _registry.PostgresNames)
        {
            list.Add(new PostgresComponentHealth(_services.GetRequiredKeyedService<PostgresCluster>(name)));
        }

        foreach (var name in _registry.RedisNames)
        {
            list.Add(new RedisComponentHealth(_services.GetRequiredKeyedService<RedisDeployment>(name)));
        }

        return [.. list];
    }
}
