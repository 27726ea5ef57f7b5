namespace HaClient.Resilience;

/// <summary>The state of an endpoint's circuit breaker, as health, metrics and the topology report it. HaClient's own
/// type, so that its public API does not carry Polly's.</summary>
public enum BreakerState
{
    /// <summary>Calls flow; failures are being counted.</summary>
    Closed,

    /// <summary>The endpoint is isolated for the break; routing skips it until a trial call is due.</summary>
    Open,

    /// <summary>The break is over and one trial call decides whether it closes.</summary>
    HalfOpen,

    /// <summary>Held open by hand until closed by hand.</summary>
    Isolated,
}
