using HaClient.Routing;
using Xunit;

namespace HaClient.Postgres.Tests.Unit;

/// <summary>Start-up validation of the zone settings: each error names its setting.</summary>
public class ZoneOptionsTests
{
    private static PostgresClusterOptions Valid() => new()
    {
        ConnectionString = "Host=127.0.0.1:15432,127.0.0.1:15433,127.0.0.1:15434;Username=u;Password=p;Database=d",
        Zones = new Dictionary<string, IList<string>>
        {
            ["a"] = ["127.0.0.1:15432", "127.0.0.1:15433"],
            ["b"] = ["127.0.0.1:15434"],
        },
        LocalZone = "a",
    };

    private static List<string> Errors(PostgresClusterOptions o)
    {
        var result = new PostgresClusterOptionsValidator().Validate(null, o);
        return result.Failed ? result.Failures.ToList() : [];
    }

    [Fact]
    public void A_valid_layout_passes_and_resolves_each_hosts_zone()
    {
        var o = Valid();
        Assert.Empty(Errors(o));
        var zones = PostgresClusterOptionsValidator.Resolve(o, [])!.Zones;
        Assert.Equal("b", zones.ZoneOf(new HostEndpoint("127.0.0.1", 15434)));
        Assert.Equal(ReadChoice.RemoteRank, zones.RankOf(new HostEndpoint("127.0.0.1", 15434)));
        Assert.Equal(ReadChoice.LocalRank, zones.RankOf(new HostEndpoint("127.0.0.1", 15433)));
        Assert.Equal(ZonePolicy.PreferLocal, zones.Policy);
        Assert.False(zones.LocalOnly);
    }

    [Fact]
    public void A_host_that_is_not_one_of_the_clusters_is_named_by_its_zone_and_index()
    {
        var o = Valid();
        o.Zones["b"] = ["127.0.0.1:15434", "127.0.0.1:15999"];
        Assert.Contains("Zones:b[1]: '127.0.0.1:15999' is not one of the cluster's hosts (Hosts).", Errors(o));
    }

    [Fact]
    public void A_malformed_host_a_host_in_two_zones_and_an_empty_zone_name_are_named()
    {
        var o = Valid();
        o.Zones["b"] = ["127.0.0.1:x", "127.0.0.1:15432"];
        o.Zones[" "] = [];
        var errors = Errors(o);
        Assert.Contains(errors, e => e.StartsWith("Zones:b[0]: ", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Zones:b[1]: '127.0.0.1:15432' is already in zone 'a'", StringComparison.Ordinal));
        Assert.Contains("Zones: a zone name is empty.", errors);
    }

    [Fact]
    public void Local_only_without_a_local_zone_is_named()
    {
        var o = Valid();
        o.LocalZone = null;
        o.ZonePolicy = ZonePolicy.LocalOnly;
        Assert.Contains("ZonePolicy: LocalOnly needs LocalZone (the application's zone).", Errors(o));
    }

    [Fact]
    public void A_local_zone_that_no_zone_names_is_named()
    {
        var o = Valid();
        o.LocalZone = "c";
        Assert.Contains("LocalZone: 'c' is not one of the zones in Zones (a, b).", Errors(o));
        o.Zones.Clear();
        Assert.Contains(Errors(o), e => e.StartsWith("LocalZone: is set but Zones is empty", StringComparison.Ordinal));
    }

    [Fact]
    public void An_undefined_policy_is_named()
    {
        var o = Valid();
        o.ZonePolicy = (ZonePolicy)9;
        Assert.Contains("ZonePolicy: 9 is not one of PreferLocal, LocalOnly.", Errors(o));
    }

    [Fact]
    public void Zone_names_and_hosts_match_without_case_and_the_defaults_are_no_zones()
    {
        var o = Valid();
        o.ConnectionString = "Host=DB1:5432,db2:5432;Username=u;Password=p";
        o.Zones = new Dictionary<string, IList<string>>(StringComparer.OrdinalIgnoreCase) { ["A"] = ["db1"], ["B"] = ["DB2:5432"] };
        o.LocalZone = "a";
        Assert.Empty(Errors(o));

        var defaults = new PostgresClusterOptions();
        Assert.Empty(defaults.Zones);
        Assert.Null(defaults.LocalZone);
        Assert.Equal(ZonePolicy.PreferLocal, defaults.ZonePolicy);
    }

    [Fact]
    public void The_options_copy_without_secrets_keeps_its_own_zones()
    {
        var o = Valid();
        var copy = o.WithoutSecrets();
        copy.Zones["a"].Add("x:1");
        Assert.Equal(2, o.Zones["a"].Count);
        Assert.Equal("a", copy.LocalZone);
    }
}
