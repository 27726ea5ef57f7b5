using HaClient.Postgres;
using HaClient.Redis;
using HaClient.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HaClient.AspNetCore;

/// <summary>Creates every configured cluster and deployment when the host starts (after validation), so their monitors
/// run from the start and health answers at once. Creation never waits for a backend. The container disposes them
/// at shutdown, after the server has drained in-flight requests. Once every hosted service has started (OpenTelemetry's
/// among them), each is registered with <see cref="HaClientTelemetry"/> again, so a meter listener that began after the
/// clusters also sees their failover and error counters at 0.</summary>
internal sealed partial class ClusterActivation : IHostedLifecycleService
{
    private readonly IServiceProvider _services;
    private readonly HighAvailabilityRegistry _registry;
    private readonly ILogger<ClusterActivation> _logger;

    public ClusterActivation(IServiceProvider services, HighAvailabilityRegistry registry, ILogger<ClusterActivation> logger)
    {
        _services = services;
        _registry = registry;
        _logger = logger;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var name in _registry.PostgresNames)
        {
            var cluster = _services.GetRequiredKeyedService<PostgresCluster>(name);
            LogStarted(_logger, "postgres", name, cluster.Topology.Hosts.Count);
        }

        foreach (var name in _registry.RedisNames)
        {
            var deployment = _services.GetRequiredKeyedService<RedisDeployment>(name);
            LogStarted(_logger, "redis", name, deployment.Topology.Nodes.Count);
        }

        return Task.CompletedTask;
    }

    public Task StartedAsync(CancellationToken cancellationToken)
    {
        foreach (var name in _registry.PostgresNames)
        {
            HaClientTelemetry.Register(_services.GetRequiredKeyedService<PostgresCluster>(name));
        }

        foreach (var name in _registry.RedisNames)
        {
            HaClientTelemetry.Register(_services.GetRequiredKeyedService<RedisDeployment>(name));
        }

        return Task.CompletedTask;
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken)
    {
        LogStopping(_logger);
        return Task.CompletedTask;
    }

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "HaClient {Kind} '{Name}' started monitoring {Count} endpoints")]
    private static partial void LogStarted(ILogger logger, string kind, string name, int count);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "HaClient: host stopping; clusters are disposed after in-flight requests drain")]
    private static partial void LogStopping(ILogger logger);
}
