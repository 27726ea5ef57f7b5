using HaClient.Postgres;
using HaClient.Redis;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace HaClient.AspNetCore.Http;

/// <summary>Reads the client's read-your-writes tokens (header or cookie) into the request's
/// <see cref="IReadYourWrites"/>, and sends the latest ones back on the response. The Postgres token travels in
/// <c>HeaderName</c> and <c>CookieName</c>; Redis tokens, one per component, in <c>HeaderName-Redis</c>
/// (<c>name=replid:offset</c>, comma-separated) and one cookie per component, <c>CookieName-r-name</c>. Malformed
/// entries, components with names outside <c>[A-Za-z0-9_.-]{1,64}</c> and entries past the sixteenth are ignored.</summary>
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
        ReadRedisTokens(context.Request, consistency, _options);
        context.Response.OnStarting(OnStarting, new ResponseState(context, consistency, _options));
        return _next(context);
    }

    internal const int MaxRedisTokens = 16;

    private static string RedisHeader(ReadYourWritesOptions options) => options.HeaderName + "-Redis";

    private static string RedisCookie(ReadYourWritesOptions options, string component) => options.CookieName + "-r-" + component;

    /// <summary>Whether <paramref name="name"/> can name a component in a header entry or a cookie name.</summary>
    internal static bool IsComponentName(ReadOnlySpan<char> name)
    {
        if (name.Length is < 1 or > 64)
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-'))
            {
                return false;
            }
        }

        return true;
    }

    private static void ReadRedisTokens(HttpRequest request, RequestConsistency consistency, ReadYourWritesOptions options)
    {
        Dictionary<string, RedisConsistencyToken>? found = null;
        void Add(string component, RedisConsistencyToken token)
        {
            found ??= new(StringComparer.Ordinal);
            if (found.Count < MaxRedisTokens || found.ContainsKey(component))
            {
                found[component] = RedisConsistencyToken.Latest(found.GetValueOrDefault(component), token);
            }
        }

        if (options.HeaderName.Length > 0 && request.Headers.TryGetValue(RedisHeader(options), out var header))
        {
            var text = header.ToString().AsSpan();
            var entries = 0;
            foreach (var range in text.Split(','))
            {
                if (++entries > MaxRedisTokens)
                {
                    break;
                }

                var entry = text[range].Trim();
                var eq = entry.IndexOf('=');
                if (eq > 0 && IsComponentName(entry[..eq]) && RedisConsistencyToken.TryParse(entry[(eq + 1)..], out var token))
                {
                    Add(entry[..eq].ToString(), token);
                }
            }
        }

        if (options.CookieName.Length > 0)
        {
            var prefix = options.CookieName + "-r-";
            var cookies = 0;
            foreach (var (name, value) in request.Cookies)
            {
                if (name.StartsWith(prefix, StringComparison.Ordinal) && ++cookies <= MaxRedisTokens
                    && IsComponentName(name.AsSpan(prefix.Length)) && RedisConsistencyToken.TryParse(value, out var token))
                {
                    Add(name[prefix.Length..], token);
                }
            }
        }

        foreach (var (component, token) in found ?? [])
        {
            consistency.SetIncomingRedis(component, token);
        }
    }

    private static void WriteRedisTokens(HttpContext context, RequestConsistency consistency, ReadYourWritesOptions options)
    {
        var tokens = consistency.RedisTokens();
        if (tokens.Count == 0)
        {
            return;
        }

        if (options.HeaderName.Length > 0)
        {
            context.Response.Headers[RedisHeader(options)] = string.Join(',', tokens.Where(t => IsComponentName(t.Component)).Select(t => $"{t.Component}={t.Token}"));
        }

        if (options.CookieName.Length > 0)
        {
            foreach (var (component, token, changed) in tokens)
            {
                if (changed && IsComponentName(component))
                {
                    context.Response.Cookies.Append(RedisCookie(options, component), token.ToString(), CookieOptionsFor(context, options));
                }
            }
        }
    }

    private static CookieOptions CookieOptionsFor(HttpContext context, ReadYourWritesOptions options) => new()
    {
        HttpOnly = true,
        IsEssential = true,
        SameSite = SameSiteMode.Lax,
        Secure = context.Request.IsHttps,
        Path = "/",
        MaxAge = options.CookieMaxAge,
    };

    private static Task WriteToken(object state)
    {
        var (context, consistency, options) = (ResponseState)state;
        WriteRedisTokens(context, consistency, options);
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
            context.Response.Cookies.Append(options.CookieName, text, CookieOptionsFor(context, options));
        }

        return Task.CompletedTask;
    }

    private sealed record ResponseState(HttpContext Context, RequestConsistency Consistency, ReadYourWritesOptions Options);
}
