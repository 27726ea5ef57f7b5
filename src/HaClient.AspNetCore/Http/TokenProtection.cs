using System.Security.Cryptography;
using Microsoft.AspNetCore.DataProtection;

namespace HaClient.AspNetCore.Http;

/// <summary>Read-your-writes tokens sealed with ASP.NET Core Data Protection (<see cref="ReadYourWritesOptions.ProtectTokens"/>):
/// what the middleware sends is the protected text (base64url: safe in headers, cookies and <c>name=value</c> entries),
/// and what it reads back is accepted only when it unprotects.</summary>
internal sealed class TokenProtection(IDataProtectionProvider provider)
{
    /// <summary>The purpose: a token protected for anything else does not open here.</summary>
    public const string Purpose = "HaClient.ReadYourWrites.v1";

    private readonly IDataProtector _protector = provider.CreateProtector(Purpose);

    public string Seal(string text) => text.Length == 0 ? text : _protector.Protect(text);

    /// <summary>The token text inside <paramref name="sealedText"/>, or <see langword="null"/> when it is not one this
    /// application protected (forged, altered, another key ring's).</summary>
    public string? Open(ReadOnlySpan<char> sealedText)
    {
        try
        {
            return _protector.Unprotect(sealedText.ToString());
        }
        catch (CryptographicException)
        {
            return null;
        }
    }

    /// <summary><paramref name="parse"/> behind <see cref="Open"/>.</summary>
    public TokenWire.Parser<T> Wrap<T>(TokenWire.Parser<T> parse)
        => (ReadOnlySpan<char> text, out T token) =>
        {
            if (Open(text) is { } plain)
            {
                return parse(plain, out token);
            }

            token = default!;
            return false;
        };
}
