using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly.CircuitBreaker;

namespace HaClient.AspNetCore.Http;

/// <summary>Turns HaClient's failover errors (<see cref="BrokenCircuitException"/>, <see cref="NoEligibleEndpointException"/>,
/// <see cref="WriteOutcomeUnknownException"/>, any <see cref="HaClientException"/>) into a 503 ProblemDetails with
/// <c>Retry-After</c>, instead of a 500. The answer names no host, cluster or credential.</summary>
internal sealed partial class FailoverExceptionMiddleware
{
    private readonly RequestDelegate _next;
    private readonly ILogger<FailoverExceptionMiddleware> _logger;
    private readonly string _retryAfter;
    private readonly IProblemDetailsService? _problemDetails;

    public FailoverExceptionMiddleware(RequestDelegate next, IOptions<HighAvailabilityOptions> options, ILogger<FailoverExceptionMiddleware> logger, IProblemDetailsService? problemDetails = null)
    {
        _next = next;
        _logger = logger;
        _problemDetails = problemDetails;
        _retryAfter = Math.Max(0, (int)Math.Ceiling(options.Value.RetryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
    }

    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            await _next(context).ConfigureAwait(false);
        }
        catch (Exception e) when (IsFailover(e) && !context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested)
        {
            LogFailover(_logger, context.Request.Method, context.Request.Path.Value ?? string.Empty, e.GetType().Name);
            await WriteProblemAsync(context, e).ConfigureAwait(false);
        }
    }

    internal static bool IsFailover(Exception e) => e is HaClientException or BrokenCircuitException;

    private async Task WriteProblemAsync(HttpContext context, Exception e)
    {
        var (title, detail) = e switch
        {
            WriteOutcomeUnknownException => ("Write outcome unknown", "The write was cut off by a failover or a timeout after it was sent: it may or may not have been applied, and it was not retried. Check its effect before retrying."),
            WriteNotCommittedException => ("Write not committed", "The write was cut off by a failover before it committed, and the database confirmed that nothing of it was applied. Retrying is safe."),
            NoEligibleEndpointException => ("Service temporarily unavailable", "No database node that can serve this request is available (a failover may be under way). Nothing was sent; retrying later is safe."),
            BrokenCircuitException => ("Service temporarily unavailable", "The database node is isolated after repeated failures. Nothing was sent; retrying later is safe."),
            _ => ("Service temporarily unavailable", "A database backend is failing over. Retry later."),
        };
        var safeToRetry = e is HaClientException h ? h.IsSafeToRetry : true;
        context.Response.Clear();
        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        context.Response.Headers.RetryAfter = _retryAfter;
        context.Response.Headers.CacheControl = "no-store";
        var problem = new ProblemDetails
        {
            Status = StatusCodes.Status503ServiceUnavailable,
            Title = title,
            Detail = detail,
            Type = "https://tools.ietf.org/html/rfc9110#section-15.6.4",
        };
        problem.Extensions["safeToRetry"] = safeToRetry;
        problem.Extensions["error"] = e.GetType().Name;
        if (_problemDetails is not null && await _problemDetails.TryWriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = problem, Exception = e }).ConfigureAwait(false))
        {
            return;
        }

        await context.Response.WriteAsJsonAsync(problem, (System.Text.Json.JsonSerializerOptions?)null, "application/problem+json", context.RequestAborted).ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 3010, Level = LogLevel.Warning, Message = "{Method} {Path} answered 503: the backend is failing over ({Error})")]
    private static partial void LogFailover(ILogger logger, string method, string path, string error);
}
