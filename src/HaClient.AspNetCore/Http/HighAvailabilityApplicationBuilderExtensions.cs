using HaClient.AspNetCore.Http;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Adds the HaClient middleware.</summary>
public static class HighAvailabilityApplicationBuilderExtensions
{
    /// <summary>
    /// Adds, in this order: failover errors (<c>BrokenCircuitException</c>, <c>NoEligibleEndpointException</c>,
    /// <c>WriteOutcomeUnknownException</c>) answered as 503 ProblemDetails with <c>Retry-After</c>; and the read-your-writes
    /// token, read from the request (header <c>X-HaClient-Consistency</c> or cookie <c>haclient-ct</c>) into the scoped
    /// <see cref="HaClient.AspNetCore.IReadYourWrites"/> and written back on the response. Call it early (before the
    /// endpoints, after exception pages).
    /// </summary>
    public static IApplicationBuilder UseHighAvailability(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseMiddleware<FailoverExceptionMiddleware>();
        app.UseMiddleware<ReadYourWritesMiddleware>();
        return app;
    }
}
