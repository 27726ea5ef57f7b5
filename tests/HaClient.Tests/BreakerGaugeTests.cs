using HaClient.Resilience;
using HaClient.Telemetry;
using Xunit;

namespace HaClient.Tests;

/// <summary>The breaker gauge says what its description and the "breaker open" alert (<c>&gt;= 2</c>) assume.</summary>
public class BreakerGaugeTests
{
    [Theory]
    [InlineData(BreakerState.Closed, 0)]
    [InlineData(BreakerState.HalfOpen, 1)]
    [InlineData(BreakerState.Open, 2)]
    [InlineData(BreakerState.Isolated, 3)]
    public void Each_state_has_its_documented_value(BreakerState state, int value)
        => Assert.Equal(value, HaClientTelemetry.BreakerGaugeValue(state));
}
