using Microsoft.AspNetCore.Http;

namespace HaClient.AspNetCore.Http;

/// <summary>How per-component tokens travel: a header of <c>name=token</c> entries (comma-separated) and one cookie per
/// component, <c>prefix + name</c>. Entries that do not parse, names outside <c>[A-Za-z0-9_.-]{1,64}</c> and entries
/// past the sixteenth are ignored: tokens are input from clients.</summary>
internal static class TokenWire
{
    internal const int MaxTokens = 16;

    /// <summary>Parses one token.</summary>
    public delegate bool Parser<T>(ReadOnlySpan<char> text, out T token);

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

    /// <summary>Reads the entries of header <paramref name="header"/> and the cookies named
    /// <paramref name="cookiePrefix"/><c>name</c> (either empty: not read) into <paramref name="found"/>, at most
    /// <see cref="MaxTokens"/> components, two tokens of one component combined by <paramref name="latest"/>.</summary>
    public static void Read<T>(HttpRequest request, string header, string cookiePrefix, Parser<T> parse, Func<T, T, T> latest, Dictionary<string, T> found)
        where T : struct
    {
        void Add(string component, T token)
        {
            if (found.Count < MaxTokens || found.ContainsKey(component))
            {
                found[component] = found.TryGetValue(component, out var was) ? latest(was, token) : token;
            }
        }

        if (header.Length > 0 && request.Headers.TryGetValue(header, out var values))
        {
            var text = values.ToString().AsSpan();
            var entries = 0;
            foreach (var range in text.Split(','))
            {
                if (++entries > MaxTokens)
                {
                    break;
                }

                var entry = text[range].Trim();
                var eq = entry.IndexOf('=');
                if (eq > 0 && IsComponentName(entry[..eq]) && parse(entry[(eq + 1)..], out var token))
                {
                    Add(entry[..eq].ToString(), token);
                }
            }
        }

        if (cookiePrefix.Length > 0)
        {
            var cookies = 0;
            foreach (var (name, value) in request.Cookies)
            {
                if (name.StartsWith(cookiePrefix, StringComparison.Ordinal) && name.Length > cookiePrefix.Length && ++cookies <= MaxTokens
                    && IsComponentName(name.AsSpan(cookiePrefix.Length)) && parse(value, out var token))
                {
                    Add(name[cookiePrefix.Length..], token);
                }
            }
        }
    }

    /// <summary>Sets cookie <paramref name="name"/> to <paramref name="text"/>, or deletes it for an empty one.</summary>
    public static void SetCookie(HttpContext context, string name, string text, TimeSpan maxAge)
    {
        var options = new CookieOptions
        {
            HttpOnly = true,
            IsEssential = true,
            SameSite = SameSiteMode.Lax,
            Secure = context.Request.IsHttps,
            Path = "/",
            MaxAge = maxAge,
        };
        if (text.Length == 0)
        {
            context.Response.Cookies.Delete(name, options);
        }
        else
        {
            context.Response.Cookies.Append(name, text, options);
        }
    }
}
