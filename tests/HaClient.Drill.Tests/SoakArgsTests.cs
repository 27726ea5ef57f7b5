using HaClient.Drill.Soak;

namespace HaClient.DrillTests;

/// <summary>Bad input gets a clear error naming the argument; secrets from connection strings are never echoed.</summary>
public sealed class SoakArgsTests
{
    private const string Pg = "Host=db1:5432,db2:5433,db3;Username=app;Password=s3cret-pw;Database=app";

    private static ArgumentException Refused(string mode, params string[] args) => Assert.Throws<ArgumentException>(() => SoakArgs.Parse(mode, args));

    [Fact]
    public void An_unknown_fault_name_is_refused_with_the_catalogue()
    {
        var e = Refused("soak", "--only", "pg-crash,disk-melt");
        Assert.Contains("--only", e.Message);
        Assert.Contains("disk-melt", e.Message);
        Assert.Contains("pg-switchover", e.Message);
    }

    [Theory]
    [InlineData("--max-window", "-1s")]
    [InlineData("--max-call", "-5")]
    [InlineData("--max-lost", "-1")]
    [InlineData("--max-stale", "x")]
    [InlineData("--budget", "0")]
    [InlineData("--observe", "soon")]
    public void A_negative_or_malformed_threshold_names_its_argument(string name, string value)
    {
        var e = Refused("run", "--pg", Pg, name, value, "--fault", "f=true");
        Assert.Contains(name, e.Message);
    }

    [Fact]
    public void A_malformed_connection_string_names_the_argument_and_not_the_password()
    {
        var e = Refused("run", "--pg", "Host=a,b;Pasword=s3cret-pw", "--observe", "10s");
        Assert.Contains("--pg", e.Message);
        Assert.DoesNotContain("s3cret-pw", e.Message);
    }

    [Theory]
    [InlineData("no-equals-sign")]
    [InlineData("=command")]
    [InlineData("bad name=true")]
    public void A_malformed_fault_is_refused(string fault)
    {
        Assert.Contains("--fault", Refused("run", "--pg", Pg, "--fault", fault).Message);
    }

    [Fact]
    public void A_run_needs_a_target_and_a_fault_or_observe()
    {
        Assert.Contains("--pg", Refused("run", "--fault", "f=true").Message);
        Assert.Contains("--observe", Refused("run", "--pg", Pg).Message);
        Assert.Contains("--healed", Refused("run", "--pg", Pg, "--fault", "a=true", "--healed", "b=true").Message);
    }

    [Fact]
    public void Faults_keep_their_order_thresholds_their_values_and_the_redacted_target_hides_the_password()
    {
        var a = SoakArgs.Parse("run", ["--pg", Pg, "--fault", "switchover=patronictl switchover --force", "--fault", "kill=kubectl delete pod -l role=master",
            "--healed", "kill=kubectl wait --for=condition=Ready pod -l app=pg", "--max-window", "30s", "--max-call", "2500ms", "--max-lost", "0", "--budget", "2s"]);
        Assert.Equal(["switchover", "kill"], a.Faults.Select(f => f.Name));
        Assert.Equal("patronictl switchover --force", a.Faults[0].Command);
        Assert.Equal("kubectl wait --for=condition=Ready pod -l app=pg", a.Faults[1].HealedCheck);
        Assert.Equal(30_000, a.Thresholds.MaxWindowMs);
        Assert.Equal(2_500, a.Thresholds.MaxCallMs);
        var target = PgTarget.Parse(a.Postgres!);
        Assert.Equal(["db1:5432", "db2:5433", "db3:5432"], target.Hosts.Select(h => h.ToString()));
        Assert.DoesNotContain("s3cret-pw", target.ToString());
        Assert.Contains("db2:5433", target.ToString());
    }

    [Fact]
    public void The_call_threshold_defaults_to_the_budget_plus_500_ms()
    {
        Assert.Equal(1_500, SoakArgs.Parse("run", ["--pg", Pg, "--observe", "5s", "--budget", "1s"]).Thresholds.MaxCallMs);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Every_lab_fault_has_a_command_and_a_healed_check_and_a_unique_name(bool net)
    {
        var catalogue = LabFaults.For(net);
        Assert.Equal(catalogue.Count, catalogue.Select(f => f.Name).Distinct().Count());
        Assert.All(catalogue, f =>
        {
            Assert.StartsWith(net ? "bash eng/lab.sh net " : "bash eng/lab.sh ", f.Command);
            Assert.False(string.IsNullOrWhiteSpace(f.HealedCheck));
            Assert.True(f.HealCommand is not null || f.Hold == FaultHold.None, $"{f.Name}: a fault the cluster does not end by itself needs a heal");
        });
    }

    [Fact]
    public void The_net_catalogue_holds_the_whole_loopback_catalogue_and_the_partitions()
    {
        Assert.Empty(LabFaults.Catalogue.Select(f => f.Name).Except(LabFaults.NetCatalogue.Select(f => f.Name)));
        Assert.Superset(new HashSet<string>(["partition-primary", "partition-dcs", "partition-client", "partition-sentinel-minority"]),
            LabFaults.NetCatalogue.Select(f => f.Name).ToHashSet());
    }

    [Fact]
    public void Partitions_are_soak_faults_only_on_the_net_part_and_net_is_for_soak_mode()
    {
        Assert.Contains("partition-dcs", Refused("soak", "--only", "partition-dcs").Message);
        Assert.True(SoakArgs.Parse("soak", ["--net", "--only", "partition-dcs,pg-crash"]).Net);
        Assert.Contains("--net", Refused("run", "--pg", Pg, "--net", "--observe", "5s").Message);
        Assert.Contains("--patroni", Refused("run", "--pg", Pg, "--patroni", "db1:8008", "--observe", "5s").Message);
        Assert.Equal(["http://db1:8008", "http://db2:8008"], SoakArgs.Parse("run", ["--pg", Pg, "--patroni", "http://db1:8008,http://db2:8008", "--observe", "5s"]).PatroniUrls);
    }

    [Fact]
    public void Left_out_the_soak_waits_for_every_lab_replica_and_a_run_for_one()
    {
        // WAIT 1 of two replicas lost 4 acknowledged writes in the 15-minute net soak when Sentinel promoted the other one.
        Assert.Equal(LabFaults.RedisReplicas, SoakArgs.Parse("soak", []).RedisWaitReplicas);
        Assert.Equal(2, LabFaults.RedisReplicas);
        Assert.Equal(1, SoakArgs.Parse("run", ["--sentinels", "127.0.0.1:26379", "--observe", "5s"]).RedisWaitReplicas);
        Assert.Equal(1, SoakArgs.Parse("soak", ["--redis-wait-replicas", "1"]).RedisWaitReplicas);
        Assert.Contains("--redis-wait-replicas", Refused("soak", "--redis-wait-replicas", "-1").Message);
    }
}
