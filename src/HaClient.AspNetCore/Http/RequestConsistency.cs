using HaClient.Postgres;

namespace HaClient.AspNetCore.Http;

/// <summary>The per-request <see cref="IReadYourWrites"/>. Thread-safe: parallel writes of one request may observe.</summary>
internal sealed class RequestConsistency : IReadYourWrites
{
    private ulong _incoming;
    private ulong _current;

    public ConsistencyToken Incoming => new(Volatile.Read(ref _incoming));

    public ConsistencyToken Token => new(Interlocked.Read(ref _current));

    public ReadConsistency Consistency => ReadConsistency.AtLeast(Token);

    public void Observe(ConsistencyToken token)
    {
        var value = token.Lsn;
        var seen = Interlocked.Read(ref _current);
        while (value > seen)
        {
            var previous = Interlocked.CompareExchange(ref _current, value, seen);
            if (previous == seen)
            {
                return;
            }

            seen = previous;
        }
    }

    /// <summary>Sets the token the request arrived with.</summary>
    internal void SetIncoming(ConsistencyToken token)
    {
        Volatile.Write(ref _incoming, token.Lsn);
        Observe(token);
    }
}
