using HaClient.Failover;
using Xunit;

namespace HaClient.Tests;

public class ProbeFailuresTests
{
    [Fact]
    public void A_preferred_failure_wins_over_an_earlier_one_and_none_means_null()
    {
        var network = new IOException("reset");
        var refused = new UnauthorizedAccessException("refused");
        Exception?[] failures = [null, network, refused];
        Assert.Same(refused, ProbeFailures.MostTelling(failures, static e => e, static e => e is UnauthorizedAccessException));
        Assert.Same(network, ProbeFailures.MostTelling(failures, static e => e, static _ => false));
        Assert.Null(ProbeFailures.MostTelling(new Exception?[] { null, null }, static e => e, static _ => true));
    }
}
