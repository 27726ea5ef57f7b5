using HaClient.Resilience;
using HaClient.Telemetry;

namespace HaClient.Failover;

public sealed partial class FailoverEngine<TEndpoint, TReadIntent>
{
    /// <summary>Hedged reads: a read that has not answered after this long is sent to a second eligible endpoint as
    /// well, and the first answer wins (<see cref="EndpointResilienceOptions.HedgeReadsAfter"/>). <see langword="null"/>:
    /// off. Writes are never hedged.</summary>
    public TimeSpan? HedgeReadsAfter { get; init; }

    /// <summary>
    /// One read, hedged: runs it on <paramref name="first"/>; if it has not answered after <paramref name="hedge"/>, also
    /// on another endpoint that serves <paramref name="intent"/> (when there is one), and returns the first success. The
    /// other call is cancelled through its own token, which releases it at once and cancels it off the thread pool
    /// (<see cref="EndpointCircuit.ExecuteBoundedAsync{T, TState}"/>). When both fail, the first endpoint's failure is
    /// thrown (the caller's retry rules then apply to it).
    /// </summary>
    private async Task<T> HedgedReadAsync<T, TCall>(TReadIntent intent, TCall call, TEndpoint first, TimeSpan hedge, OperationDeadline deadline, CancellationToken cancellationToken)
        where TCall : IEndpointCall<TEndpoint, T>
    {
        using var firstLeg = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var firstTask = call.RunAsync(first, null, deadline, firstLeg.Token).AsTask();
        if (firstTask.IsCompleted || hedge >= deadline.Remaining)
        {
            return await firstTask.ConfigureAwait(false);
        }

        using (var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            var delay = Task.Delay(hedge, TimeProvider, timer.Token);
            if (await Task.WhenAny(firstTask, delay).ConfigureAwait(false) == firstTask)
            {
                await timer.CancelAsync().ConfigureAwait(false);
                return await firstTask.ConfigureAwait(false);
            }
        }

        cancellationToken.ThrowIfCancellationRequested();
        if (_topology.SelectReader(intent, first) is not { } second)
        {
            return await firstTask.ConfigureAwait(false);
        }

        CountError(ErrorKinds.ReadHedged);
        Route(second, read: true);
        using var secondLeg = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var secondTask = call.RunAsync(second, null, deadline, secondLeg.Token).AsTask();
        var winner = await Task.WhenAny(firstTask, secondTask).ConfigureAwait(false);
        if (winner.IsCompletedSuccessfully)
        {
            await (winner == firstTask ? secondLeg : firstLeg).CancelAsync().ConfigureAwait(false);
            Observe(winner == firstTask ? secondTask : firstTask);
            return await winner.ConfigureAwait(false);
        }

        // The first to end failed: the other may still answer.
        var other = winner == firstTask ? secondTask : firstTask;
        try
        {
            return await other.ConfigureAwait(false);
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            return await firstTask.ConfigureAwait(false);
        }
    }

    /// <summary>Observes a cancelled hedge leg's end, so that its exception is not reported as unobserved.</summary>
    private static void Observe(Task task) => _ = task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
}
