namespace HaClient.Postgres;

/// <summary>An immutable view of the cluster: every host's last probe and the primary chosen from them.</summary>
public sealed class PostgresTopology
{
    internal PostgresTopology(long version, IReadOnlyList<PostgresHostState> hosts, int primaryIndex, bool splitBrain)
    {
        Version = version;
        Hosts = hosts;
        PrimaryIndex = primaryIndex;
        SplitBrain = splitBrain;
    }

    /// <summary>Increases with every change of the chosen primary or of any host's role.</summary>
    public long Version { get; }

    /// <summary>Every host, in configuration order.</summary>
    public IReadOnlyList<PostgresHostState> Hosts { get; }

    /// <summary>The index in <see cref="Hosts"/> of the host writes go to, or -1 when none is known.</summary>
    public int PrimaryIndex { get; }

    /// <summary>The host writes go to, if any.</summary>
    public PostgresHostState? Primary => PrimaryIndex >= 0 ? Hosts[PrimaryIndex] : null;

    /// <summary>Whether more than one host reports itself primary. Writes then go only to the one on the highest
    /// timeline, and to none when the highest timeline is shared.</summary>
    public bool SplitBrain { get; }
}
