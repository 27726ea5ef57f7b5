using HaClient.Postgres;
using Microsoft.EntityFrameworkCore;

namespace HaClient.EntityFrameworkCore;

/// <summary>A read consistency for one query of a context configured with <c>UseHaClient</c>.</summary>
public static class HaClientQueryableExtensions
{
    /// <summary>The query tag of <c>ReadFrom(ReadConsistency.Primary)</c> (it appears in the SQL as a comment).</summary>
    public const string PrimaryTag = "HaClient: read from the primary";

    /// <summary>The query tag of <c>ReadFrom(ReadConsistency.WithinLagBound)</c> (it appears in the SQL as a comment).</summary>
    public const string WithinLagBoundTag = "HaClient: read within the lag bound";

    /// <summary>
    /// Runs this query at <paramref name="consistency"/>, whatever its tracking and the context's read scope:
    /// <c>db.Items.ReadFrom(ReadConsistency.Primary).SingleAsync(…)</c> for a no-tracking read that must be current,
    /// <c>ReadFrom(ReadConsistency.WithinLagBound)</c> to send a tracked query to a replica within the lag bound. The
    /// read is still raised to the context's read-your-writes token; inside a transaction it runs on the transaction's
    /// connection. It is an EF Core query tag (<see cref="PrimaryTag"/>, <see cref="WithinLagBoundTag"/>), so it shows in
    /// the SQL and in logs, and a tagged query is compiled and cached apart from the untagged one.
    /// </summary>
    /// <param name="source">The query.</param>
    /// <param name="consistency"><see cref="ReadConsistency.Primary"/> or <see cref="ReadConsistency.WithinLagBound"/>.
    /// A token (<see cref="ReadConsistency.AtLeast"/>) is per execution, not part of a compiled query: give it to the
    /// context with <c>db.ObserveConsistencyToken(token)</c> or a <c>db.ReadFrom(…)</c> scope instead.</param>
    /// <exception cref="ArgumentException"><paramref name="consistency"/> is neither Primary nor WithinLagBound, or
    /// carries a staleness allowance.</exception>
    public static IQueryable<T> ReadFrom<T>(this IQueryable<T> source, ReadConsistency consistency)
    {
        ArgumentNullException.ThrowIfNull(source);
        return source.TagWith(TagOf(consistency));
    }

    private static string TagOf(ReadConsistency consistency)
    {
        if (consistency.MaxStaleness == TimeSpan.Zero)
        {
            switch (consistency.Kind)
            {
                case ReadConsistencyKind.Primary:
                    return PrimaryTag;
                case ReadConsistencyKind.WithinLagBound:
                    return WithinLagBoundTag;
            }
        }

        throw new ArgumentException(
            $"ReadFrom on a query takes ReadConsistency.Primary or ReadConsistency.WithinLagBound (got {consistency.Kind}"
            + (consistency.MaxStaleness > TimeSpan.Zero ? " with a staleness allowance" : "")
            + "). For a token, use db.ObserveConsistencyToken(token) or a db.ReadFrom(ReadConsistency.AtLeast(token)) scope.",
            nameof(consistency));
    }
}
