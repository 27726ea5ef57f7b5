using HaClient.Postgres;

namespace HaClient.EntityFrameworkCore;

/// <summary>Where the next open of a context's connection goes: a read (to a node that meets
/// <see cref="Consistency"/>), else the primary through the write path; <see cref="Writes"/> when the command that
/// opens it writes (its token is read before the connection closes). The default is the write path for an open no
/// command asked for (a transaction, SaveChanges, an explicit open).</summary>
internal readonly record struct CommandRoute(bool IsRead, ReadConsistency Consistency, bool Writes)
{
    public static CommandRoute Write => new(false, ReadConsistency.Primary, true);

    public static CommandRoute Read(ReadConsistency consistency) => new(true, consistency, false);
}
