using HaClient.Postgres;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace HaClient.AspNetCore.Http;

/// <summary>Reads the client's read-your-writes token (header or cookie) into the request's
/// <see cref="IReadYourWrites"/>, and sends the latest token back on the response.</summary>
internal sealed class ReadYourWritesMiddleware
{
    private static readonly Func<object, Task> OnStarting = WriteToken;
    private readonly RequestDelegate _next;
    private readonly ReadYourWritesOptions _options;

    public ReadYourWritesMiddleware(RequestDelegate next, IOptions<HighAvailabilityOptions> options)
    {
        _next = next;
        _options = options.Value.ReadYourWrites;
    }

    public Task InvokeAsync(HttpContext context)
    {
        if (!_options.Enabled || context.RequestServices.GetService<IReadYourWrites>() is not RequestConsistency consistency)
        {
            return _next(context);
        }

        var incoming = default(ConsistencyToken);
        if (_options.HeaderName.Length > 0 && context.Request.Headers.TryGetValue(_options.HeaderName, out var header)
            && ConsistencyToken.TryParse(header.ToString(), out var fromHeader))
        {
            incoming = fromHeader;
        }

        if (_options.CookieName.Length > 0 && context.Request.Cookies[_options.CookieName] is { } cookie && ConsistencyToken.TryParse(cookie, out var fromCookie))
        {
            incoming = ConsistencyToken.Max(incoming, fromCookie);
        }

        consistency.SetIncoming(incoming);
        context.Response.OnStarting(OnStarting, new ResponseState(context, consistency, _options));
        return _next(context);
    }

    private static Task WriteToken(object state)
    {
        var (context, consistency, options) = (ResponseState)state;
        var token = consistency.Token;
        if (token.IsEmpty)
        {
            return Task.CompletedTask;
        }

        var text = token.ToString();
        if (options.HeaderName.Length > 0)
        {
            context.Response.Headers[options.HeaderName] = text;
        }

        if (options.CookieName.Length > 0 && token > consistency.Incoming)
        {
            context.Response.Cookies.Append(options.CookieName, text, new CookieOptions
            {
                HttpOnly = true,
                IsEssential = true,
                SameSite = SameSiteMode.Lax,
                Secure = context.Request.IsHttps,
                Path = "/",
                MaxAge = options.CookieMaxAge,
            });
        }

        return Task.CompletedTask;
    }

    private sealed record ResponseState(HttpContext Context, RequestConsistency Consistency, ReadYourWritesOptions Options);
}
