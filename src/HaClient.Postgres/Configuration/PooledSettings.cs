using Microsoft.Extensions.Logging;
using Npgsql;

namespace HaClient.Postgres;

/// <summary>
/// The Npgsql settings of a request pool that goes through a pooler (a host written <c>server via pooler</c>). A pooler
/// in transaction mode (PgBouncer) gives each transaction whichever server session is free, so nothing tied to a
/// session survives: Npgsql's reset on close (<c>DISCARD ALL</c>) resets some other client's session for nothing, and
/// a statement prepared on one session (<c>Max Auto Prepare</c>, <c>NpgsqlCommand.Prepare</c>) is missing on the next;
/// PgBouncer before 1.21 does not track prepared statements at all. Npgsql's own advice behind PgBouncer is
/// <c>No Reset On Close=true</c>. A setting the connection string makes itself is kept, with one warning at start-up.
/// </summary>
internal static partial class PooledSettings
{
    /// <summary>Sets <c>No Reset On Close=true</c> and <c>Max Auto Prepare=0</c> where the user's connection string leaves
    /// them out.</summary>
    public static void Apply(ResolvedPostgresSettings settings, NpgsqlConnectionStringBuilder pool)
    {
        if (!settings.IsSet("No Reset On Close"))
        {
            pool.NoResetOnClose = true;
        }

        if (!settings.IsSet("Max Auto Prepare"))
        {
            pool.MaxAutoPrepare = 0;
        }
    }

    /// <summary>The settings of the user's connection string that a pooler in transaction mode defeats (each named, with
    /// why); empty when there is none.</summary>
    public static IReadOnlyList<string> Conflicts(ResolvedPostgresSettings settings)
    {
        var conflicts = new List<string>();
        if (settings.IsSet("No Reset On Close") && !settings.Template.NoResetOnClose)
        {
            conflicts.Add("No Reset On Close=false (each connection's DISCARD ALL runs on whichever server session the pooler lends it)");
        }

        if (settings.IsSet("Max Auto Prepare") && settings.Template.MaxAutoPrepare > 0)
        {
            conflicts.Add($"Max Auto Prepare={settings.Template.MaxAutoPrepare} (a prepared statement lives on one server session; in transaction mode the next transaction may get another, and PgBouncer before 1.21 does not track them)");
        }

        return conflicts;
    }

    /// <summary>Logs one warning per conflicting setting, at start-up.</summary>
    public static void WarnOfConflicts(ResolvedPostgresSettings settings, string cluster, ILogger logger)
    {
        foreach (var conflict in Conflicts(settings))
        {
            LogConflict(logger, cluster, conflict);
        }
    }

    [LoggerMessage(EventId = 1020, Level = LogLevel.Warning, Message = "Cluster {Cluster}: requests go through a pooler, but ConnectionString sets {Setting}; kept as set, it breaks under a pooler in transaction mode")]
    private static partial void LogConflict(ILogger logger, string cluster, string setting);
}
