using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace HaClient.AspNetCore.Health;

/// <summary>Liveness (tag <c>live</c>): the process answers. Never touches a backend.</summary>
internal sealed class HighAvailabilityLivenessCheck : IHealthCheck
{
    private static readonly Task<HealthCheckResult> Healthy = Task.FromResult(HealthCheckResult.Healthy());

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) => Healthy;
}

/// <summary>Readiness (tag <c>ready</c>): every configured component can serve (a primary / master is known), from the
/// monitors' cached state. Unhealthy when one cannot; degraded when all can but something is missing.</summary>
internal sealed class HighAvailabilityReadinessCheck : IHealthCheck
{
    private readonly HighAvailabilityHealth _health;

    public HighAvailabilityReadinessCheck(HighAvailabilityHealth health) => _health = health;

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var (status, ready) = _health.Evaluate();
        var result = !ready
            ? new HealthCheckResult(context.Registration.FailureStatus, "A component cannot serve: no primary or master is known.")
            : status == HealthStatus.Healthy ? HealthCheckResult.Healthy() : HealthCheckResult.Degraded("A component is degraded; see /health.");
        return Task.FromResult(result);
    }
}
