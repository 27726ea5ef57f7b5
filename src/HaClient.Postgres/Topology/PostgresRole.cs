namespace HaClient.Postgres;

/// <summary>The role of a host as last probed.</summary>
public enum PostgresRole
{
    /// <summary>Not probed yet.</summary>
    Unknown = 0,

    /// <summary>Accepts writes (<c>pg_is_in_recovery()</c> is false).</summary>
    Primary = 1,

    /// <summary>A hot standby: in recovery, serves reads.</summary>
    Replica = 2,

    /// <summary>The last probe failed: refused, timed out, or errored.</summary>
    Down = 3,
}
