namespace HaClient.Resilience;

/// <summary>A small lock-free pool of reusable objects: a fixed array scanned with interlocked exchanges. Renting from an
/// empty pool and returning to a full one both fail (the caller then allocates, or lets the object go).</summary>
internal sealed class ReusePool<T>(int capacity)
    where T : class
{
    private readonly T?[] _items = new T?[capacity];

    /// <summary>A pooled object, or <see langword="null"/> when the pool is empty.</summary>
    public T? TryRent()
    {
        var items = _items;
        for (var i = 0; i < items.Length; i++)
        {
            if (Volatile.Read(ref items[i]) is not null && Interlocked.Exchange(ref items[i], null) is { } item)
            {
                return item;
            }
        }

        return null;
    }

    /// <summary>Keeps <paramref name="item"/> for reuse; false when the pool is full.</summary>
    public bool TryReturn(T item)
    {
        var items = _items;
        for (var i = 0; i < items.Length; i++)
        {
            if (Interlocked.CompareExchange(ref items[i], item, null) is null)
            {
                return true;
            }
        }

        return false;
    }
}
