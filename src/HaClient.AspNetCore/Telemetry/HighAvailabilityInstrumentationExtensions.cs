using HaClient.Telemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace OpenTelemetry;

/// <summary>Registers HaClient's meter and activity source with OpenTelemetry. Works alongside Npgsql's own
/// instrumentation (<c>AddNpgsql()</c> from Npgsql.OpenTelemetry) and ASP.NET Core's.</summary>
public static class HighAvailabilityInstrumentationExtensions
{
    /// <summary>Adds the <c>HaClient</c> meter: routing decisions, role changes, failovers and their duration, breaker
    /// transitions and states, errors, replica lag and session store operations.</summary>
    public static MeterProviderBuilder AddHighAvailabilityInstrumentation(this MeterProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddMeter(HaClientTelemetry.Name);
    }

    /// <summary>Adds the <c>HaClient</c> activity source.</summary>
    public static TracerProviderBuilder AddHighAvailabilityInstrumentation(this TracerProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddSource(HaClientTelemetry.Name);
    }
}
