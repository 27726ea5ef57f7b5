namespace HaClient.Failover;

/// <summary>Picks the failure that explains an empty choice of endpoint, for
/// <see cref="IFailoverTopology{TEndpoint, TReadIntent}.CurrentFailure"/>: the same rule for every store.</summary>
public static class ProbeFailures
{
    /// <summary>The first endpoint's latest probe failure that <paramref name="preferred"/> accepts (a server refusing the
    /// settings says more than a network error), else the first failure at all; <see langword="null"/> when no probe
    /// is failing.</summary>
    /// <param name="endpoints">The store's endpoints.</param>
    /// <param name="failureOf">An endpoint's latest probe failure, or <see langword="null"/>.</param>
    /// <param name="preferred">Which failures explain best.</param>
    public static Exception? MostTelling<T>(IReadOnlyList<T> endpoints, Func<T, Exception?> failureOf, Func<Exception, bool> preferred)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(failureOf);
        ArgumentNullException.ThrowIfNull(preferred);
        Exception? any = null;
        for (var i = 0; i < endpoints.Count; i++)
        {
            if (failureOf(endpoints[i]) is { } e)
            {
                if (preferred(e))
                {
                    return e;
                }

                any ??= e;
            }
        }

        return any;
    }
}
