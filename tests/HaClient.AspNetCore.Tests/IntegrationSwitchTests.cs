using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Xunit;

namespace HaClient.AspNetCore.Tests;

/// <summary>Aspire's Disable{HealthChecks,Tracing,Metrics} switches: left out, everything is registered; each switch, in
/// configuration or in code, leaves out its part only.</summary>
public sealed class IntegrationSwitchTests
{
    private static ServiceProvider FromConfiguration(Dictionary<string, string?> settings)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddHighAvailability(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
        return services.BuildServiceProvider();
    }

    private static string[] HealthChecks(IServiceProvider sp)
        => sp.GetRequiredService<IOptions<HealthCheckServiceOptions>>().Value.Registrations.Select(r => r.Name).ToArray();

    [Fact]
    public void Left_out_the_switches_register_health_checks_metrics_and_tracing()
    {
        using var sp = FromConfiguration([]);
        Assert.Equal(["haclient-live", "haclient-ready"], HealthChecks(sp).Order());
        Assert.NotNull(sp.GetService<MeterProvider>());
        Assert.NotNull(sp.GetService<TracerProvider>());
    }

    [Theory]
    [InlineData("DisableHealthChecks", false, true, true)]
    [InlineData("DisableMetrics", true, false, true)]
    [InlineData("DisableTracing", true, true, false)]
    public void Each_switch_in_configuration_leaves_out_its_part_only(string key, bool health, bool metrics, bool tracing)
    {
        using var sp = FromConfiguration(new() { [$"HighAvailability:{key}"] = "true" });
        Assert.Equal(health, HealthChecks(sp).Length == 2);
        Assert.Equal(metrics, sp.GetService<MeterProvider>() is not null);
        Assert.Equal(tracing, sp.GetService<TracerProvider>() is not null);
    }

    [Fact]
    public void The_switches_work_in_code_and_all_three_leave_nothing()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddHighAvailability(ha =>
        {
            ha.DisableHealthChecks = true;
            ha.DisableMetrics = true;
            ha.DisableTracing = true;
        });
        using var sp = services.BuildServiceProvider();
        Assert.Empty(HealthChecks(sp));
        Assert.Null(sp.GetService<MeterProvider>());
        Assert.Null(sp.GetService<TracerProvider>());
    }

    [Fact]
    public void A_second_call_registers_nothing_twice()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddHighAvailability(_ => { });
        services.AddHighAvailability(_ => { });
        using var sp = services.BuildServiceProvider();
        Assert.Equal(2, HealthChecks(sp).Length);
    }
}
