using HaClient.Monitoring;
using HaClient.Telemetry;
using Microsoft.Extensions.Logging;

namespace HaClient.Redis;

/// <summary>One election's inputs, taken from the monitor under its lock.</summary>
/// <param name="States">Every node's last probe.</param>
/// <param name="Current">The primary's index (-1: none).</param>
/// <param name="Hint">The address of the last <c>+switch-master</c> not verified yet.</param>
/// <param name="Promotion">The promotion a Sentinel announced, if any.</param>
/// <param name="PromotionAt">When it was announced (to settle that one and not a newer one).</param>
internal readonly record struct Ballot(RedisNodeState[] States, int Current, HostEndpoint? Hint, PromotionUnderWay? Promotion, long PromotionAt);

/// <summary>
/// The monitor's rounds, on one loop: probe every node's <c>ROLE</c> and ask the Sentinels at once, hold the election
/// over the fresh states, and switch writes to the node it chooses once that node's connection sees a primary. Every
/// step is bounded; the loop is the only one that adopts a primary.
/// </summary>
internal sealed partial class ElectionRounds(RedisTopologyMonitor monitor, RoleProber prober, SentinelDiscovery? sentinels, RedisOptions options, ProbeWakeup wake, TimeProvider time, ILogger logger, string cluster)
{
    private bool _sentinelsSilent;
    private readonly SplitBrainLog _splitBrain = new(cluster, logger, time);

    public async Task RunAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await RoundAsync().ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                LogRoundFailed(logger, cluster, e.GetType().Name);
            }

            try
            {
                await wake.WaitAsync(monitor.IsSettled ? options.ProbeInterval : options.FailoverProbeInterval, time, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>One round: every node's <c>ROLE</c> and (with Sentinels) their answers, at once; then the election.</summary>
    private async Task RoundAsync()
    {
        foreach (var n in monitor.Topology.Links)
        {
            _ = prober.ProbeAsync(n);
        }

        var votes = sentinels is null ? null : await sentinels.AskAsync().ConfigureAwait(false);
        if (votes is not null)
        {
            // What the Sentinels name is followed from now on.
            monitor.LearnNodes(votes.Named.Select(v => v.Endpoint));
        }

        await Task.WhenAll(monitor.Topology.Links.Select(prober.VerifyAsync)).ConfigureAwait(false);
        var ballot = monitor.TakeBallot();
        var election = votes is null
            ? MasterElection.ByRole(ballot.States)
            : MasterElection.BySentinels(ballot.States, ballot.Current, votes, ballot.Hint, ballot.Promotion, options.FollowPromotedReplica);
        monitor.Settle(election, ballot);
        Report(election, ballot, votes);
        if (election.Index >= 0 && election.Index != ballot.Current)
        {
            await AdoptAsync(election.Index).ConfigureAwait(false);
        }
        else if (election.Index < 0 && ballot.Current >= 0)
        {
            monitor.LoseIfStill(ballot.Current, "no node verified as primary");
        }
    }

    /// <summary>Logs what the election says when it changes: a promotion followed before the Sentinels announce it, the
    /// Sentinels falling silent, several nodes claiming primary.</summary>
    private void Report(in Election election, in Ballot ballot, SentinelVotes? votes)
    {
        if (election.Outcome is ElectionOutcome.FollowSelected or ElectionOutcome.FollowPromoted && election.Index != ballot.Current)
        {
            LogFollowPromoted(logger, cluster, ballot.States[election.Index].Endpoint.ToString());
        }

        var silent = votes is { Answered: 0 };
        if (silent && !_sentinelsSilent)
        {
            LogNoSentinel(logger, cluster);
        }

        _sentinelsSilent = silent;
        if (election.Claims <= 1 && !_splitBrain.IsActive)
        {
            return;
        }

        var states = ballot.States;
        _splitBrain.Observe(election.Claims > 1, () => string.Join(", ", states.Where(s => s.Role == RedisNodeRole.Primary).Select(s => s.Endpoint.ToString())),
            ballot.Current >= 0 ? states[ballot.Current].Endpoint.ToString() : "none");
    }

    /// <summary>Switches writes to the node at <paramref name="index"/> once its connection sees it as a primary.</summary>
    private async Task AdoptAsync(int index)
    {
        var node = monitor.Topology.Links[index];
        if (await node.EnsurePrimaryViewAsync(options.ProbeTimeout).ConfigureAwait(false) is { } why)
        {
            LogAdoptFailed(logger, cluster, node.Name, why);
            return;
        }

        await node.Circuit.ResetAsync().ConfigureAwait(false);
        var (adopted, previous, lostFor) = monitor.Adopt(index);
        if (adopted && previous is not null)
        {
            // A failover: another node than the last primary (never the first primary found at start-up).
            HaClientTelemetry.RecordFailover(cluster, node.Name, lostFor);

            // Drop every connection to the old primary: anything still in flight there ends now instead of waiting out
            // its budget; the node reconnects afresh (as a replica) on its next probe.
            previous.ResetConnection();
        }
    }

    [LoggerMessage(EventId = 2009, Level = LogLevel.Information, Message = "Redis {Cluster}: replica {Endpoint} of the lost primary was promoted; following it before the Sentinels announce it")]
    private static partial void LogFollowPromoted(ILogger logger, string cluster, string endpoint);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Warning, Message = "Redis {Cluster}: no Sentinel answered; keeping the primary only while its ROLE says primary")]
    private static partial void LogNoSentinel(ILogger logger, string cluster);


    [LoggerMessage(EventId = 2011, Level = LogLevel.Warning, Message = "Redis {Cluster}: could not switch writes to {Endpoint} yet: {Error}")]
    private static partial void LogAdoptFailed(ILogger logger, string cluster, string endpoint, string error);

    [LoggerMessage(EventId = 2008, Level = LogLevel.Warning, Message = "Redis {Cluster}: probe round failed: {Error}")]
    private static partial void LogRoundFailed(ILogger logger, string cluster, string error);
}
