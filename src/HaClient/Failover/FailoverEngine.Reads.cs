using System.Runtime.CompilerServices;
using HaClient.Telemetry;
using HaClient.Resilience;

namespace HaClient.Failover;

/// <summary>The read path: an endpoint that serves the intent, hedged when asked, retried once on another.</summary>
public sealed partial class FailoverEngine<TEndpoint, TReadIntent>
{
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<T> ReadAsync<T, TCall>(TReadIntent intent, TCall call, CancellationToken cancellationToken)
        where TCall : IEndpointCall<TEndpoint, T>
    {
        var deadline = StartOperation();
        TEndpoint? exclude = null;
        var targetRole = NoRole;
        Exception? last = null;
        try
        {
            for (var attempt = 0; attempt < 2; attempt++)
            {
                // Nearly always an endpoint is eligible at once: select it here, without the waiting method's frame.
                var endpoint = _topology.SelectReader(intent, exclude)
                    ?? await WaitForReaderAsync(intent, exclude, deadline, last, cancellationToken).ConfigureAwait(false);
                try
                {
                    targetRole = Route(endpoint, read: true);
                    var result = attempt == 0 && HedgeReadsAfter is { } hedge
                        ? await HedgedReadAsync<T, TCall>(intent, call, endpoint, hedge, deadline, cancellationToken).ConfigureAwait(false)
                        : await call.RunAsync(endpoint, null, deadline, cancellationToken).ConfigureAwait(false);
                    CountOperation(Read, targetRole, Outcomes.Success, deadline);
                    return result;
                }
                catch (Exception e) when (!cancellationToken.IsCancellationRequested && _classify(e) is var kind && kind != FailureKind.ServerError)
                {
                    CountError(e is Polly.CircuitBreaker.BrokenCircuitException ? ErrorKinds.ReadCircuitOpen : ErrorKinds.ReadRetried);
                    if (kind == FailureKind.EndpointFailure)
                    {
                        _topology.RequestProbe();
                    }
                    else if (kind == FailureKind.Overload)
                    {
                        CountError(ErrorKinds.Overload);
                    }

                    last = e;
                    exclude = endpoint;
                }
            }

            CountError(ErrorKinds.ReadFailed);
            throw new ReadFailedException(_topology.NameOf(exclude!), last);
        }
        catch (Exception e) when (CountFailedOperation(Read, targetRole, e, deadline, cancellationToken))
        {
            throw; // never reached: the filter counts and declines
        }
    }
}
