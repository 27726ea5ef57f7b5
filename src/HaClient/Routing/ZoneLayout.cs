namespace HaClient.Routing;

/// <summary>
/// The zones of a component's nodes and the application's own zone, validated once at start-up: which zone a node is
/// in (shown in health and topology), its zone rank for the read choice (<see cref="ReadChoice"/>) and the
/// <see cref="ZonePolicy"/>. Configured as a map from zone name to the nodes in it
/// (<c>"Zones": { "a": ["db1:5432", "db2:5432"], "b": ["db3:5432"] }</c>): a <c>host:port</c> cannot be a configuration
/// key, since <c>:</c> separates sections. A node in no zone is in none: never local.
/// </summary>
public sealed class ZoneLayout
{
    private readonly Dictionary<HostEndpoint, string> _zoneOf;

    private ZoneLayout(Dictionary<HostEndpoint, string> zoneOf, string? localZone, ZonePolicy policy)
    {
        _zoneOf = zoneOf;
        LocalZone = localZone;
        Policy = policy;
    }

    /// <summary>No zones: every node ranks as local, and reads are not tagged as local or not.</summary>
    public static ZoneLayout None { get; } = new(new Dictionary<HostEndpoint, string>(EndpointComparer.Instance), null, ZonePolicy.PreferLocal);

    /// <summary>The application's zone, or <see langword="null"/> when none is set (no zone preference).</summary>
    public string? LocalZone { get; }

    /// <summary>How far a read may leave <see cref="LocalZone"/>.</summary>
    public ZonePolicy Policy { get; }

    /// <summary>Whether reads must stay in the local zone (<see cref="ZonePolicy.LocalOnly"/> with a local zone).</summary>
    public bool LocalOnly => LocalZone is not null && Policy == ZonePolicy.LocalOnly;

    /// <summary>The zone of <paramref name="endpoint"/>, or <see langword="null"/> when it is in none.</summary>
    public string? ZoneOf(HostEndpoint endpoint) => _zoneOf.GetValueOrDefault(endpoint);

    /// <summary>Whether <paramref name="endpoint"/> is in the local zone; <see langword="null"/> when no local zone is set.</summary>
    public bool? IsLocal(HostEndpoint endpoint)
        => LocalZone is null ? null : string.Equals(ZoneOf(endpoint), LocalZone, StringComparison.OrdinalIgnoreCase);

    /// <summary>The zone rank of <paramref name="endpoint"/>: <see cref="ReadChoice.LocalRank"/> in the local zone (and for
    /// every node when no local zone is set), else <see cref="ReadChoice.RemoteRank"/>.</summary>
    public int RankOf(HostEndpoint endpoint) => IsLocal(endpoint) == false ? ReadChoice.RemoteRank : ReadChoice.LocalRank;

    /// <summary>
    /// Validates and resolves the zone settings. Errors name the setting (<c>Zones:a[1]</c>, <c>LocalZone</c>,
    /// <c>ZonePolicy</c>) after <paramref name="prefix"/>. When <paramref name="nodes"/> is given, every node a zone lists
    /// must be one of them.
    /// </summary>
    /// <returns>The layout, or <see langword="null"/> when an error was added.</returns>
    public static ZoneLayout? Resolve(IDictionary<string, IList<string>>? zones, string? localZone, ZonePolicy policy, IReadOnlyCollection<HostEndpoint>? nodes, int defaultPort, string prefix, List<string> errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        var before = errors.Count;
        var zoneOf = new Dictionary<HostEndpoint, string>(EndpointComparer.Instance);
        var names = new List<string>();
        var known = nodes is null ? null : new HashSet<HostEndpoint>(nodes, EndpointComparer.Instance);
        foreach (var (zone, members) in zones ?? new Dictionary<string, IList<string>>())
        {
            if (string.IsNullOrWhiteSpace(zone))
            {
                errors.Add($"{prefix}Zones: a zone name is empty.");
                continue;
            }

            names.Add(zone);
            var list = members ?? [];
            for (var i = 0; i < list.Count; i++)
            {
                var setting = $"{prefix}Zones:{zone}[{i}]";
                if (HostEndpoint.TryParse(list[i], defaultPort, out var error) is not { } endpoint)
                {
                    errors.Add($"{setting}: {error}; expected host:port.");
                }
                else if (known is not null && !known.Contains(endpoint))
                {
                    errors.Add($"{setting}: '{endpoint}' is not one of the cluster's hosts (Hosts).");
                }
                else if (zoneOf.TryGetValue(endpoint, out var other))
                {
                    errors.Add($"{setting}: '{endpoint}' is already in zone '{other}'; a host is in one zone.");
                }
                else
                {
                    zoneOf[endpoint] = zone;
                }
            }
        }

        if (!Enum.IsDefined(policy))
        {
            errors.Add($"{prefix}ZonePolicy: {(int)policy} is not one of {string.Join(", ", Enum.GetNames<ZonePolicy>())}.");
        }
        else if (policy == ZonePolicy.LocalOnly && string.IsNullOrWhiteSpace(localZone))
        {
            errors.Add($"{prefix}ZonePolicy: LocalOnly needs LocalZone (the application's zone).");
        }

        if (localZone is not null && (string.IsNullOrWhiteSpace(localZone) || !names.Contains(localZone, StringComparer.OrdinalIgnoreCase)))
        {
            errors.Add(names.Count == 0
                ? $"{prefix}LocalZone: is set but Zones is empty; name the hosts of each zone in Zones."
                : $"{prefix}LocalZone: '{localZone}' is not one of the zones in Zones ({string.Join(", ", names)}).");
        }

        return errors.Count > before ? null : new ZoneLayout(zoneOf, localZone, policy);
    }

    /// <summary>Host names compare without case (DNS names do), ports exactly.</summary>
    private sealed class EndpointComparer : IEqualityComparer<HostEndpoint>
    {
        public static readonly EndpointComparer Instance = new();

        public bool Equals(HostEndpoint x, HostEndpoint y) => x.Port == y.Port && string.Equals(x.Host, y.Host, StringComparison.OrdinalIgnoreCase);

        public int GetHashCode(HostEndpoint obj) => HashCode.Combine(StringComparer.OrdinalIgnoreCase.GetHashCode(obj.Host), obj.Port);
    }
}
