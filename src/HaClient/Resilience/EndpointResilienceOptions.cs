using System.ComponentModel.DataAnnotations;

namespace HaClient.Resilience;

/// <summary>Per-endpoint resilience: the bounded time of each operation and the circuit breaker that isolates a failing
/// endpoint.</summary>
public sealed class EndpointResilienceOptions : IValidatableObject
{
    /// <summary>The most time one operation (open + command, including its single safe retry) may take. Default 5 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00", ErrorMessage = "OperationTimeout must be between 10 ms and 1 hour.")]
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The failure ratio within <see cref="BreakerSamplingDuration"/> that opens an endpoint's circuit. Default 0.5.</summary>
    [Range(0.01, 1.0, ErrorMessage = "BreakerFailureRatio must be between 0.01 and 1.")]
    public double BreakerFailureRatio { get; set; } = 0.5;

    /// <summary>The number of calls within <see cref="BreakerSamplingDuration"/> before the ratio counts. Default 4.</summary>
    [Range(2, int.MaxValue, ErrorMessage = "BreakerMinimumThroughput must be at least 2.")]
    public int BreakerMinimumThroughput { get; set; } = 4;

    /// <summary>The window over which failures are counted. Default 10 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.500", "01:00:00", ErrorMessage = "BreakerSamplingDuration must be between 500 ms and 1 hour.")]
    public TimeSpan BreakerSamplingDuration { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long an open circuit stays open before one trial call. Default 5 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.500", "1.00:00:00", ErrorMessage = "BreakerBreakDuration must be between 500 ms and 1 day (Polly's own bounds).")]
    public TimeSpan BreakerBreakDuration { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How much longer each break is than the last while the endpoint keeps failing its trial calls: the n-th
    /// consecutive break lasts <see cref="BreakerBreakDuration"/> × growth^(n-1), at most
    /// <see cref="BreakerMaxBreakDuration"/>; a successful trial closes the circuit and starts again from
    /// <see cref="BreakerBreakDuration"/>. Default 1 (every break the same, as in Polly); the seed guides' breaker doubles
    /// (2).</summary>
    [Range(1.0, 10.0, ErrorMessage = "BreakerBreakDurationGrowth must be between 1 (a fixed break) and 10.")]
    public double BreakerBreakDurationGrowth { get; set; } = 1.0;

    /// <summary>The longest break when <see cref="BreakerBreakDurationGrowth"/> is above 1. Default 5 minutes.</summary>
    [Range(typeof(TimeSpan), "00:00:00.500", "1.00:00:00", ErrorMessage = "BreakerMaxBreakDuration must be between 500 ms and 1 day.")]
    public TimeSpan BreakerMaxBreakDuration { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// When above 0, the circuit opens after this many endpoint failures in a row (no call that the endpoint answered
    /// between them), the seed guides' rule (5), in place of the failure ratio: <see cref="BreakerFailureRatio"/>,
    /// <see cref="BreakerMinimumThroughput"/> and <see cref="BreakerSamplingDuration"/> then play no part. Default 0 (the
    /// failure-ratio rule, as in Polly).
    /// </summary>
    [Range(0, 1000, ErrorMessage = "BreakerConsecutiveFailures must be between 0 (the failure-ratio rule) and 1000.")]
    public int BreakerConsecutiveFailures { get; set; }

    /// <summary>
    /// How many calls in a row must succeed after a break before the endpoint counts as recovered. The first is Polly's
    /// half-open trial call, which closes the circuit; the rest are ordinary calls on probation, and a failure among them
    /// opens the circuit again at once, for a break grown by <see cref="BreakerBreakDurationGrowth"/>. Default 1 (Polly's
    /// rule: one successful trial closes it); the seed guides use 3. The monitor's own evidence that the endpoint is
    /// healthy again closes the circuit without probation.
    /// </summary>
    [Range(1, 100, ErrorMessage = "BreakerHalfOpenSuccesses must be between 1 and 100.")]
    public int BreakerHalfOpenSuccesses { get; set; } = 1;

    /// <summary>
    /// Hedged reads (opt-in): a read that has not answered after this long is sent to a second eligible node as well, and
    /// the first answer wins; the other call is cancelled (off the thread pool, as at a deadline). Writes are never
    /// hedged. <see langword="null"/> (the default): off. Set it above the reads' usual latency (a p99), or every read
    /// costs two.
    /// </summary>
    public TimeSpan? HedgeReadsAfter { get; set; }

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (HedgeReadsAfter is { } hedge && (hedge <= TimeSpan.Zero || hedge >= OperationTimeout))
        {
            yield return new ValidationResult("HedgeReadsAfter must be above 0 and below OperationTimeout (or unset: no hedging).", [nameof(HedgeReadsAfter)]);
        }

        if (BreakerMaxBreakDuration < BreakerBreakDuration)
        {
            yield return new ValidationResult("BreakerMaxBreakDuration must not be shorter than BreakerBreakDuration.", [nameof(BreakerMaxBreakDuration)]);
        }
    }
}
