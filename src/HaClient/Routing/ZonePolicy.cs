namespace HaClient.Routing;

/// <summary>How far a read may leave the application's zone (<c>LocalZone</c>).</summary>
public enum ZonePolicy
{
    /// <summary>The default: an eligible replica in the local zone, else one in another zone, else the primary (when the
    /// component falls back to it).</summary>
    PreferLocal,

    /// <summary>Never leave the zone: only local replicas serve bounded reads, and the primary only when it is local too;
    /// otherwise the read fails as having no eligible endpoint. Reads that need the primary (strong reads, read-your-writes
    /// tokens) still may use it wherever it is.</summary>
    LocalOnly,
}
