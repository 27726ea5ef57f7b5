using HaClient.Monitoring;
using HaClient.Resilience;
using HaClient.Telemetry;
using Microsoft.Extensions.Logging;

namespace HaClient.Failover;

public sealed partial class FailoverEngine<TEndpoint, TReadIntent>
{
    /// <summary>How the store resolves a transaction whose connection failed after its commit was sent; without one,
    /// such a write's outcome is unknown (<see cref="WriteOutcomeUnknownException"/>).</summary>
    public ICommitResolver<TEndpoint>? CommitResolver { get; init; }

    private enum AttemptEnd
    {
        Reroute,
        NotCommitted,
        Resolve,
        Committed,
    }

    /// <summary>
    /// Finds out, within the deadline, what became of a commit whose reply was lost: asks the endpoint that is primary now
    /// (waiting for one through a failover), again after each topology change while the answer is
    /// <see cref="CommitVerdict.NotYet"/>. Returns committed or not committed; throws
    /// <see cref="WriteOutcomeUnknownException"/> when the store cannot tell or the deadline ends first.
    /// </summary>
    private async ValueTask<AttemptEnd> ResolveCommitAsync(TEndpoint failed, Exception cause, WriteProgress progress, OperationDeadline deadline, CancellationToken cancellationToken)
    {
        if (CommitResolver is not { } resolver || progress.CommitEvidence is not { } evidence)
        {
            throw OutcomeUnknown(failed, cause);
        }

        var last = cause;
        while (!deadline.IsExpired)
        {
            var changed = _topology.Changed;
            var verdict = CommitVerdict.NotYet;
            if (_topology.SelectWriter() is { } primary)
            {
                try
                {
                    verdict = await resolver.ResolveAsync(primary, evidence, deadline, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (!cancellationToken.IsCancellationRequested)
                {
                    var kind = _classify(e);
                    if (kind == FailureKind.ServerError)
                    {
                        // The primary refused the question itself (a permission): it will not answer better later.
                        LogResolutionRefused(_logger, Cluster, _topology.NameOf(primary), e.GetType().Name);
                        break;
                    }

                    Report(primary, e, kind);
                    last = e;
                }
            }

            switch (verdict)
            {
                case CommitVerdict.Committed:
                    CountError(ErrorKinds.WriteResolvedCommitted);
                    return AttemptEnd.Committed;
                case CommitVerdict.NotCommitted:
                    CountError(ErrorKinds.WriteResolvedNotCommitted);
                    return AttemptEnd.NotCommitted;
                case CommitVerdict.Unknowable:
                    throw OutcomeUnknown(failed, cause);
            }

            if (deadline.IsExpired)
            {
                break;
            }

            _topology.RequestProbe();
            var remaining = deadline.Remaining;
            _ = await TopologyChangeSignal.WhenChangedAsync(changed, remaining < _recheck ? remaining : _recheck, TimeProvider, cancellationToken).ConfigureAwait(false);
        }

        throw OutcomeUnknown(failed, last);
    }

    [LoggerMessage(EventId = 21, Level = LogLevel.Warning, Message = "{Cluster}: {Endpoint} refused to say whether a write committed ({Error}); its outcome stays unknown")]
    private static partial void LogResolutionRefused(ILogger logger, string cluster, string endpoint, string error);
}
