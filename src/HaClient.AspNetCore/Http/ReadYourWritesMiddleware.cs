using System.Text;
using HaClient.Postgres;
using HaClient.Redis;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace HaClient.AspNetCore.Http;

/// <summary>Reads the client's read-your-writes tokens (headers or cookies) into the request's
/// <see cref="IReadYourWrites"/>, and sends the latest ones back on the response, one per component. The default
/// Postgres cluster's token travels in <c>HeaderName</c> and <c>CookieName</c> (as with one cluster); every other
/// Postgres cluster's in <c>HeaderName-Postgres</c> (<c>name=identifier:X/Y</c>, comma-separated) and a cookie
/// <c>CookieName-p-name</c>; Redis tokens in <c>HeaderName-Redis</c> (<c>name=replid:offset</c>) and a cookie
/// <c>CookieName-r-name</c>. Tokens are input (<see cref="TokenWire"/>): malformed ones are ignored, and each is taken
/// as its component takes it (<see cref="PostgresCluster.CapToken"/>, <see cref="RedisDeployment.CapToken"/>: another
/// deployment's dropped, one beyond the primary capped) at the start of the request and again when the response is
/// written, so a forged or lost-history cookie is replaced by a capped one. With
/// <see cref="ReadYourWritesOptions.ProtectTokens"/> every value sent is sealed with Data Protection and only sealed
/// values are read (<see cref="TokenProtection"/>).</summary>
internal sealed class ReadYourWritesMiddleware
{
    private static readonly Func<object, Task> OnStarting = WriteTokens;
    private readonly RequestDelegate _next;
    private readonly ReadYourWritesOptions _options;
    private readonly TokenProtection? _protection;

    public ReadYourWritesMiddleware(RequestDelegate next, IOptions<HighAvailabilityOptions> options, IServiceProvider services)
    {
        _next = next;
        _options = options.Value.ReadYourWrites;
        if (_options.ProtectTokens)
        {
            _protection = new TokenProtection(services.GetService<IDataProtectionProvider>()
                ?? throw new InvalidOperationException("HighAvailability:ReadYourWrites:ProtectTokens is on, but no Data Protection is registered (services.AddDataProtection())."));
        }
    }

    public Task InvokeAsync(HttpContext context)
    {
        if (!_options.Enabled || context.RequestServices.GetService<IReadYourWrites>() is not RequestConsistency consistency)
        {
            return _next(context);
        }

        ReadPostgresTokens(context, consistency, _options, _protection);
        ReadRedisTokens(context, consistency, _options, _protection);
        context.Response.OnStarting(OnStarting, new ResponseState(context, consistency, _options, _protection));
        return _next(context);
    }

    internal static string PostgresHeader(ReadYourWritesOptions options) => options.HeaderName.Length > 0 ? options.HeaderName + "-Postgres" : string.Empty;

    internal static string PostgresCookiePrefix(ReadYourWritesOptions options) => options.CookieName.Length > 0 ? options.CookieName + "-p-" : string.Empty;

    internal static string RedisHeader(ReadYourWritesOptions options) => options.HeaderName.Length > 0 ? options.HeaderName + "-Redis" : string.Empty;

    internal static string RedisCookiePrefix(ReadYourWritesOptions options) => options.CookieName.Length > 0 ? options.CookieName + "-r-" : string.Empty;

    private static void ReadPostgresTokens(HttpContext context, RequestConsistency consistency, ReadYourWritesOptions options, TokenProtection? protection)
    {
        var found = new Dictionary<string, ConsistencyToken>(StringComparer.Ordinal);
        var single = default(ConsistencyToken);
        var request = context.Request;
        var parse = protection?.Wrap<ConsistencyToken>(ConsistencyToken.TryParse) ?? ConsistencyToken.TryParse;
        if (options.HeaderName.Length > 0 && request.Headers.TryGetValue(options.HeaderName, out var header) && parse(header.ToString(), out var fromHeader))
        {
            single = fromHeader;
        }

        if (options.CookieName.Length > 0 && request.Cookies[options.CookieName] is { } cookie && parse(cookie, out var fromCookie))
        {
            single = ConsistencyToken.Max(single, fromCookie);
        }

        if (!single.IsEmpty)
        {
            found[consistency.DefaultPostgres] = single;
        }

        TokenWire.Read(request, PostgresHeader(options), PostgresCookiePrefix(options), parse, ConsistencyToken.Max, found);
        foreach (var (component, arrived) in found)
        {
            var cluster = context.RequestServices.GetKeyedService<PostgresCluster>(component);
            var started = cluster?.TimeProvider.GetTimestamp() ?? 0;
            consistency.Postgres.Arrive(component, arrived, cluster?.CapToken(arrived, started) ?? arrived, started);
        }
    }

    private static void ReadRedisTokens(HttpContext context, RequestConsistency consistency, ReadYourWritesOptions options, TokenProtection? protection)
    {
        var found = new Dictionary<string, RedisConsistencyToken>(StringComparer.Ordinal);
        var parse = protection?.Wrap<RedisConsistencyToken>(RedisConsistencyToken.TryParse) ?? RedisConsistencyToken.TryParse;
        TokenWire.Read(context.Request, RedisHeader(options), RedisCookiePrefix(options), parse, RedisConsistencyToken.Latest, found);
        foreach (var (component, arrived) in found)
        {
            var deployment = context.RequestServices.GetKeyedService<RedisDeployment>(component);
            var started = deployment?.TimeProvider.GetTimestamp() ?? 0;
            consistency.Redis.Arrive(component, arrived, deployment?.CapToken(arrived, started) ?? arrived, started);
        }
    }

    private static Task WriteTokens(object state)
    {
        var (context, consistency, options, protection) = (ResponseState)state;
        WritePostgresTokens(context, consistency, options, protection);
        WriteRedisTokens(context, consistency, options, protection);
        return Task.CompletedTask;
    }

    private static void WritePostgresTokens(HttpContext context, RequestConsistency consistency, ReadYourWritesOptions options, TokenProtection? protection)
    {
        StringBuilder? others = null;
        foreach (var (component, e) in consistency.Postgres.Snapshot())
        {
            // Only the incoming token is capped: a write of this request may be beyond a probe that began before it.
            var incoming = context.RequestServices.GetKeyedService<PostgresCluster>(component)?.CapToken(e.Incoming, e.Started) ?? e.Incoming;
            var token = ConsistencyToken.Max(incoming, e.Written);
            var text = token.IsEmpty ? string.Empty : protection?.Seal(token.ToString()) ?? token.ToString();
            var isDefault = component == consistency.DefaultPostgres;
            if (!isDefault && !TokenWire.IsComponentName(component))
            {
                continue;
            }

            if (text.Length > 0 && options.HeaderName.Length > 0)
            {
                if (isDefault)
                {
                    context.Response.Headers[options.HeaderName] = text;
                }
                else
                {
                    Append(others ??= new(), component, text);
                }
            }

            if (options.CookieName.Length > 0 && token != e.Arrived)
            {
                TokenWire.SetCookie(context, isDefault ? options.CookieName : PostgresCookiePrefix(options) + component, text, options.CookieMaxAge);
            }
        }

        if (others is not null)
        {
            context.Response.Headers[PostgresHeader(options)] = others.ToString();
        }
    }

    private static void WriteRedisTokens(HttpContext context, RequestConsistency consistency, ReadYourWritesOptions options, TokenProtection? protection)
    {
        StringBuilder? header = null;
        foreach (var (component, e) in consistency.Redis.Snapshot())
        {
            if (!TokenWire.IsComponentName(component))
            {
                continue;
            }

            var incoming = context.RequestServices.GetKeyedService<RedisDeployment>(component)?.CapToken(e.Incoming, e.Started) ?? e.Incoming;
            var token = RedisConsistencyToken.Latest(incoming, e.Written);
            var text = protection?.Seal(token.ToString()) ?? token.ToString();
            if (text.Length > 0 && options.HeaderName.Length > 0)
            {
                Append(header ??= new(), component, text);
            }

            if (options.CookieName.Length > 0 && token != e.Arrived)
            {
                TokenWire.SetCookie(context, RedisCookiePrefix(options) + component, text, options.CookieMaxAge);
            }
        }

        if (header is not null)
        {
            context.Response.Headers[RedisHeader(options)] = header.ToString();
        }
    }

    /// <summary>Adds a <c>name=token</c> entry to a header value.</summary>
    private static void Append(StringBuilder header, string component, string text)
        => header.Append(header.Length > 0 ? "," : string.Empty).Append(component).Append('=').Append(text);

    private sealed record ResponseState(HttpContext Context, RequestConsistency Consistency, ReadYourWritesOptions Options, TokenProtection? Protection);
}
