using System.Text;
using HaClient.AspNetCore.Health;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps the HaClient health endpoints.</summary>
public static class HighAvailabilityHealthEndpoints
{
    private static readonly byte[] HealthyBody = Encoding.UTF8.GetBytes("Healthy");
    private static readonly byte[] DegradedBody = Encoding.UTF8.GetBytes("Degraded");
    private static readonly byte[] UnhealthyBody = Encoding.UTF8.GetBytes("Unhealthy");

    /// <summary>
    /// Maps <c>{prefix}/live</c> (the process answers; never touches a backend), <c>{prefix}/ready</c> (200 when every
    /// component can serve, else 503) and <c>{prefix}</c> (JSON: overall and per component and per host status, role,
    /// lag, breaker state, probe age and probe time; 200 when healthy or degraded, 503 when unhealthy). All are answered
    /// from the monitors' cached state: no request opens a connection, and no secret is ever written.
    /// </summary>
    /// <param name="endpoints">The application.</param>
    /// <param name="prefix">The path prefix. Default <c>/health</c>.</param>
    /// <returns>The group, to add conventions (authorization, host filters) to all three.</returns>
    public static RouteGroupBuilder MapHighAvailabilityHealth(this IEndpointRouteBuilder endpoints, string prefix = "/health")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var group = endpoints.MapGroup(prefix);
        group.MapGet("/live", static context => WriteTextAsync(context, StatusCodes.Status200OK, HealthyBody)).WithDisplayName("HaClient liveness");
        group.MapGet("/ready", static context =>
        {
            var (status, ready) = context.RequestServices.GetRequiredService<HighAvailabilityHealth>().Evaluate();
            return ready
                ? WriteTextAsync(context, StatusCodes.Status200OK, status == HealthStatus.Healthy ? HealthyBody : DegradedBody)
                : WriteTextAsync(context, StatusCodes.Status503ServiceUnavailable, UnhealthyBody);
        }).WithDisplayName("HaClient readiness");
        group.MapGet(string.Empty, static context => WriteHealthAsync(context)).WithDisplayName("HaClient health");
        return group;
    }

    private static async Task WriteHealthAsync(HttpContext context)
    {
        var health = context.RequestServices.GetRequiredService<HighAvailabilityHealth>();
        var response = context.Response;
        health.WriteJson(response.BodyWriter, SetStatus, response);
        await response.BodyWriter.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    private static void SetStatus(HealthStatus status, HttpResponse response)
    {
        response.StatusCode = status == HealthStatus.Unhealthy ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK;
        response.ContentType = "application/json; charset=utf-8";
        response.Headers.CacheControl = "no-store";
    }

    private static Task WriteTextAsync(HttpContext context, int statusCode, byte[] body)
    {
        var response = context.Response;
        response.StatusCode = statusCode;
        response.ContentType = "text/plain";
        response.Headers.CacheControl = "no-store";
        response.ContentLength = body.Length;
        return response.Body.WriteAsync(body, 0, body.Length, context.RequestAborted);
    }
}
