using HaClient.Postgres;
using Microsoft.Extensions.Options;
using Xunit;

namespace HaClient.Postgres.Tests.Unit;

public class OptionsValidationTests
{
    private const string Secret = "s3cr3t-pw-never-shown";

    private static PostgresClusterOptions Valid() => new()
    {
        ConnectionString = $"Host=127.0.0.1:15432,127.0.0.1:15433;Username=u;Password={Secret};Database=d",
    };

    private static string[] Errors(PostgresClusterOptions o)
    {
        var result = new PostgresClusterOptionsValidator().Validate(null, o);
        return result.Failed ? result.Failures.ToArray() : [];
    }

    [Fact]
    public void Valid_options_pass()
    {
        Assert.Empty(Errors(Valid()));
    }

    [Fact]
    public void An_unknown_transaction_retry_mode_names_the_setting_and_the_default_is_no_retry()
    {
        Assert.Equal(HaClient.Failover.WriteRetry.None, Valid().TransactionRetry);
        var o = Valid();
        o.TransactionRetry = (HaClient.Failover.WriteRetry)7;
        Assert.Contains(Errors(o), e => e.StartsWith("TransactionRetry:", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    [InlineData(5000)]
    public void A_hedge_threshold_outside_the_budget_names_the_setting(int ms)
    {
        var o = Valid();
        o.Resilience.HedgeReadsAfter = TimeSpan.FromMilliseconds(ms);
        Assert.Contains(Errors(o), e => e.Contains("HedgeReadsAfter", StringComparison.Ordinal));
        o.Resilience.HedgeReadsAfter = TimeSpan.FromMilliseconds(20);
        Assert.Empty(Errors(o));
    }

    [Fact]
    public void No_hosts_names_the_setting()
    {
        var o = Valid();
        o.ConnectionString = $"Username=u;Password={Secret}";
        Assert.Contains(Errors(o), e => e.StartsWith("Hosts:", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("127.0.0.1:notaport", "Hosts[1]")]
    [InlineData("127.0.0.1:70000", "Hosts[1]")]
    [InlineData("", "Hosts[1]")]
    [InlineData("a:1:2", "Hosts[1]")]
    public void Malformed_host_names_its_index(string bad, string setting)
    {
        var o = Valid();
        o.Hosts = ["127.0.0.1:15432", bad];
        var errors = Errors(o);
        Assert.Contains(errors, e => e.StartsWith(setting + ":", StringComparison.Ordinal));
    }

    [Fact]
    public void Malformed_host_in_connection_string_names_it()
    {
        var o = Valid();
        o.ConnectionString = $"Host=127.0.0.1:15432,db:xx;Password={Secret}";
        Assert.Contains(Errors(o), e => e.StartsWith("ConnectionString:Host[1]:", StringComparison.Ordinal));
    }

    [Fact]
    public void Negative_interval_and_timeout_name_the_setting()
    {
        var o = Valid();
        o.ProbeInterval = TimeSpan.FromSeconds(-1);
        o.Resilience.OperationTimeout = TimeSpan.FromMilliseconds(-5);
        var errors = Errors(o);
        Assert.Contains(errors, e => e.StartsWith("ProbeInterval:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Resilience:OperationTimeout:", StringComparison.Ordinal));
    }

    [Fact]
    public void Breaker_settings_outside_pollys_bounds_are_named_at_validation_not_at_creation()
    {
        var o = Valid();
        o.Resilience.BreakerBreakDuration = TimeSpan.FromMilliseconds(100);
        Assert.Contains(Errors(o), e => e.StartsWith("Resilience:BreakerBreakDuration:", StringComparison.Ordinal));
        o.Resilience.BreakerBreakDuration = TimeSpan.FromMilliseconds(500);
        Assert.Empty(Errors(o));
    }

    [Fact]
    public void Lag_bound_in_the_wrong_unit_is_rejected()
    {
        // "5" binds to TimeSpan as five days: far outside any sane lag bound.
        var o = Valid();
        o.ReplicaLag.MaxLagTime = TimeSpan.Parse("5", System.Globalization.CultureInfo.InvariantCulture);
        o.ReplicaLag.MaxLagBytes = -1;
        var errors = Errors(o);
        Assert.Contains(errors, e => e.StartsWith("ReplicaLag:MaxLagTime:", StringComparison.Ordinal) && e.Contains("hh:mm:ss", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("ReplicaLag:MaxLagBytes:", StringComparison.Ordinal));
    }

    [Fact]
    public void Unknown_connection_string_keyword_is_named_and_no_secret_leaks()
    {
        var o = Valid();
        o.ConnectionString = $"Host=h;Password={Secret};Bogus Setting=1";
        var errors = Errors(o);
        Assert.Contains(errors, e => e.StartsWith("ConnectionString:", StringComparison.Ordinal) && e.Contains("bogus setting", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain(errors, e => e.Contains(Secret, StringComparison.Ordinal));
    }

    [Fact]
    public void Create_throws_options_validation_exception_without_secrets()
    {
        var o = Valid();
        o.Hosts = ["h:0"];
        var e = Assert.Throws<OptionsValidationException>(() => PostgresCluster.Create(o));
        Assert.Contains("Hosts[0]", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("db1", "db1", 5432)]
    [InlineData("db1:6432", "db1", 6432)]
    [InlineData("[::1]:5433", "::1", 5433)]
    [InlineData(" 10.0.0.1:1 ", "10.0.0.1", 1)]
    public void Host_endpoints_parse(string text, string host, int port)
    {
        var e = HostEndpoint.TryParse(text, 5432, out var error);
        Assert.Null(error);
        Assert.Equal(new HostEndpoint(host, port), e);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    [InlineData(10_001)]
    public void A_connection_cap_out_of_range_names_the_setting(int cap)
    {
        var o = Valid();
        o.MaxConnectionsPerHost = cap;
        Assert.Contains(Errors(o), e => e.StartsWith("MaxConnectionsPerHost:", StringComparison.Ordinal));
    }

    [Fact]
    public void A_connection_cap_that_contradicts_the_connection_string_names_both()
    {
        var o = Valid();
        o.ConnectionString += ";Maximum Pool Size=25";
        o.MaxConnectionsPerHost = 30;
        var e = Assert.Single(Errors(o));
        Assert.StartsWith("MaxConnectionsPerHost:", e, StringComparison.Ordinal);
        Assert.Contains("Maximum Pool Size=25", e, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, e, StringComparison.Ordinal);
    }

    [Fact]
    public void The_connection_cap_defaults_to_40_or_to_the_connection_string_s_pool_size()
    {
        var errors = new List<string>();
        Assert.Equal(40, PostgresClusterOptionsValidator.Resolve(Valid(), errors)!.MaxConnectionsPerHost);
        var o = Valid();
        o.ConnectionString += ";Maximum Pool Size=12";
        Assert.Equal(12, PostgresClusterOptionsValidator.Resolve(o, errors)!.MaxConnectionsPerHost);
        o.MaxConnectionsPerHost = 12;
        Assert.Equal(12, PostgresClusterOptionsValidator.Resolve(o, errors)!.MaxConnectionsPerHost);
        Assert.Empty(errors);
    }

    [Fact]
    public void A_break_cap_below_the_break_names_the_setting()
    {
        var o = Valid();
        o.Resilience.BreakerBreakDuration = TimeSpan.FromSeconds(10);
        o.Resilience.BreakerMaxBreakDuration = TimeSpan.FromSeconds(5);
        Assert.Contains(Errors(o), e => e.StartsWith("Resilience:BreakerMaxBreakDuration:", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(11.0)]
    public void A_break_growth_out_of_range_names_the_setting(double growth)
    {
        var o = Valid();
        o.Resilience.BreakerBreakDurationGrowth = growth;
        Assert.Contains(Errors(o), e => e.StartsWith("Resilience:BreakerBreakDurationGrowth:", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(-1, 1, "BreakerConsecutiveFailures")]
    [InlineData(1001, 1, "BreakerConsecutiveFailures")]
    [InlineData(5, 0, "BreakerHalfOpenSuccesses")]
    [InlineData(5, 101, "BreakerHalfOpenSuccesses")]
    public void Breaker_rule_counts_out_of_range_name_the_setting(int consecutive, int successes, string setting)
    {
        var o = Valid();
        o.Resilience.BreakerConsecutiveFailures = consecutive;
        o.Resilience.BreakerHalfOpenSuccesses = successes;
        Assert.Contains(Errors(o), e => e.StartsWith($"Resilience:{setting}:", StringComparison.Ordinal));
    }

    [Fact]
    public void The_seed_guides_breaker_is_valid()
    {
        var o = Valid();
        o.Resilience.BreakerConsecutiveFailures = 5;
        o.Resilience.BreakerBreakDuration = TimeSpan.FromSeconds(60);
        o.Resilience.BreakerHalfOpenSuccesses = 3;
        o.Resilience.BreakerBreakDurationGrowth = 2;
        Assert.Empty(Errors(o));
    }
}
