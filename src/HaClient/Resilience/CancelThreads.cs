using System.Collections.Concurrent;

namespace HaClient.Resilience;

/// <summary>
/// Runs the cancellations of abandoned calls, each on a thread of its own (a driver's cancellation can block on a frozen
/// server for seconds, so they must not queue behind one another), started by one dispatcher thread rather than by the
/// caller. Starting a thread waits until the new thread runs; on a loaded 2-core machine that took milliseconds, and
/// the caller was HaClient's deadline thread releasing 400 calls that fell due together: the last ones were released
/// up to ~475 ms past their budget (the plain-lab hang storm, 2026-12-02). Handing a cancellation over costs a queue
/// operation and a signal.
/// </summary>
internal sealed class CancelThreads
{
    /// <summary>The process's dispatcher, started on first use (a background thread).</summary>
    public static readonly CancelThreads Instance = new();

    private readonly ConcurrentQueue<CancellationTokenSource> _queue = new();
    private readonly SemaphoreSlim _queued = new(0);

    private CancelThreads()
    {
        new Thread(Dispatch) { IsBackground = true, Name = "HaClient cancel dispatch" }.Start();
    }

    /// <summary>Cancels <paramref name="cts"/> soon, on a thread of its own; returns at once.</summary>
    public void Cancel(CancellationTokenSource cts)
    {
        _queue.Enqueue(cts);
        _queued.Release();
    }

    private void Dispatch()
    {
        while (true)
        {
            _queued.Wait();
            if (!_queue.TryDequeue(out var cts))
            {
                continue;
            }

            try
            {
                new Thread(static state =>
                {
                    try
                    {
                        ((CancellationTokenSource)state!).Cancel();
                    }
                    catch (Exception)
                    {
                        // Best effort: the abandoned call's own outcome is observed by its continuation.
                    }
                })
                {
                    IsBackground = true,
                    Name = "HaClient cancel",
                }.Start(cts);
            }
            catch (Exception e) when (e is OutOfMemoryException or ThreadStartException)
            {
                // No thread to be had: cancel here rather than never (it may block this dispatcher for a while).
                try
                {
                    cts.Cancel();
                }
                catch (Exception)
                {
                    // As above.
                }
            }
        }
    }
}
