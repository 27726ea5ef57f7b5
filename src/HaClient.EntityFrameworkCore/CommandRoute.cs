using HaClient.Postgres;

namespace HaClient.EntityFrameworkCore;

/// <summary>Where the next open of a context's connection goes: a read (to a node that meets <see cref="Target"/>),
/// else the primary through the write path; <see cref="Writes"/> when the command that opens it writes (its token is read
/// before the connection closes). The default is the write path for an open no command asked for (a transaction,
/// SaveChanges, an explicit open).</summary>
internal readonly record struct CommandRoute(bool IsRead, ReadTarget? Target, bool Writes)
{
    public static CommandRoute Write => new(false, null, true);

    public static CommandRoute Read(ReadTarget target) => new(true, target, false);
}

/// <summary>A read's consistency as one shared reference: <see cref="Primary"/> and <see cref="WithinLagBound"/> for
/// every context, one per read scope (<see cref="HaClientDbContextExtensions.ReadFrom"/>). A context keeps its pending
/// route and its scope as such a reference rather than the value, which is three times the size.</summary>
internal sealed class ReadTarget(ReadConsistency consistency)
{
    public static readonly ReadTarget Primary = new(ReadConsistency.Primary);
    public static readonly ReadTarget WithinLagBound = new(ReadConsistency.WithinLagBound);

    public ReadConsistency Consistency { get; } = consistency;
}
