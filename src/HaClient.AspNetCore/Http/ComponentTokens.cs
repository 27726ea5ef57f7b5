namespace HaClient.AspNetCore.Http;

/// <summary>One request's read-your-writes tokens of one store, one per component: what each component's token arrived
/// as, what it was taken as (<c>CapToken</c> at the start of the request), when the request began on the component's
/// clock, and the latest token of this request's own writes. Thread-safe: parallel writes of one request may observe.</summary>
/// <typeparam name="T">The store's token.</typeparam>
internal sealed class ComponentTokens<T>(Func<T, T, T> latest)
    where T : struct, IEquatable<T>
{
    private readonly Lock _lock = new();
    private Dictionary<string, Entry>? _entries;

    /// <summary>A component's tokens.</summary>
    /// <param name="Arrived">As the client sent it (empty: none, or malformed).</param>
    /// <param name="Incoming">As the component took it at the start of the request (a token of another deployment
    /// dropped, a token beyond the primary capped).</param>
    /// <param name="Written">The latest of this request's own writes.</param>
    /// <param name="Started">The component's clock when the request began (for the cap at the response).</param>
    internal readonly record struct Entry(T Arrived, T Incoming, T Written, long Started);

    /// <summary>Records the token <paramref name="component"/> arrived with.</summary>
    public void Arrive(string component, T arrived, T incoming, long started)
    {
        lock (_lock)
        {
            _entries ??= new(StringComparer.Ordinal);
            _entries[component] = _entries.GetValueOrDefault(component) with { Arrived = arrived, Incoming = incoming, Started = started };
        }
    }

    /// <summary>Records a write's token for <paramref name="component"/>.</summary>
    public void Observe(string component, T token)
    {
        lock (_lock)
        {
            _entries ??= new(StringComparer.Ordinal);
            var e = _entries.GetValueOrDefault(component);
            _entries[component] = e with { Written = latest(e.Written, token) };
        }
    }

    /// <summary>What a read of <paramref name="component"/> must see: the latest of the incoming token and this request's
    /// writes.</summary>
    public T Get(string component)
    {
        lock (_lock)
        {
            return _entries is { } m && m.TryGetValue(component, out var e) ? latest(e.Incoming, e.Written) : default;
        }
    }

    /// <summary>The token <paramref name="component"/> arrived with, as the component took it.</summary>
    public T Incoming(string component)
    {
        lock (_lock)
        {
            return _entries is { } m && m.TryGetValue(component, out var e) ? e.Incoming : default;
        }
    }

    /// <summary>Every component's entry, in the order they were first seen.</summary>
    public List<(string Component, Entry Tokens)> Snapshot()
    {
        lock (_lock)
        {
            var result = new List<(string, Entry)>(_entries?.Count ?? 0);
            foreach (var (name, e) in _entries ?? [])
            {
                result.Add((name, e));
            }

            return result;
        }
    }
}
