using System.Collections.Concurrent;

namespace HaClient.Resilience;

/// <summary>
/// Runs the cancellations of abandoned calls off the thread pool, never one queued behind another: a driver's
/// cancellation can block on a frozen server for seconds. A dispatcher thread hands each cancellation to an idle worker
/// thread, or starts a new one when every worker is busy; a worker idle for <see cref="IdleTimeout"/> ends. They wait on
/// a <see cref="ThreadSignal"/>, which does not spin.
/// <list type="bullet">
/// <item>Not started by the caller: starting a thread waits until it runs, milliseconds on a loaded 2-core machine, and the
/// caller is often HaClient's deadline thread releasing 400 calls that fell due together (the last were released up to
/// ~475 ms past their budget in the plain-lab hang storm, 2026-12-02). Handing one over costs a queue operation and a
/// signal.</item>
/// <item>Workers are reused: a crashed server refuses the cancel request at once, so a storm's 400 cancellations need a
/// few threads, not 400 thread starts competing with the callers for two cores at the moment of the crash. Against a
/// frozen server each blocks, and each gets a thread as before.</item>
/// </list>
/// </summary>
internal sealed class CancelThreads
{
    /// <summary>The process's dispatcher, started on first use (background threads).</summary>
    public static readonly CancelThreads Instance = new(TimeSpan.FromSeconds(10));

    private readonly ConcurrentQueue<CancellationTokenSource> _queue = new();
    private readonly ThreadSignal _queued = new();
    private readonly ThreadSignal _work = new();
    private int _idle;
    private int _workers;

    /// <summary>A dispatcher whose workers end after <paramref name="idleTimeout"/> without work (tests use their own).</summary>
    internal CancelThreads(TimeSpan idleTimeout)
    {
        IdleTimeout = idleTimeout;
        new Thread(Dispatch) { IsBackground = true, Name = "HaClient cancel dispatch" }.Start();
    }

    /// <summary>How long a worker waits for another cancellation before it ends.</summary>
    public TimeSpan IdleTimeout { get; }

    /// <summary>Worker threads alive now (running a cancellation or idle).</summary>
    public int Workers => Volatile.Read(ref _workers);

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

            // One worker per queued cancellation: an idle one if there is one (it takes the next from the queue), else a
            // new one.
            if (TryTakeIdle())
            {
                _work.Release();
                continue;
            }

            try
            {
                Interlocked.Increment(ref _workers);
                new Thread(Work) { IsBackground = true, Name = "HaClient cancel" }.Start();
            }
            catch (Exception e) when (e is OutOfMemoryException or ThreadStartException)
            {
                // No thread to be had: cancel here rather than never (it may block this dispatcher for a while).
                Interlocked.Decrement(ref _workers);
                if (_queue.TryDequeue(out var cts))
                {
                    CancelQuietly(cts);
                }
            }
        }
    }

    private void Work()
    {
        try
        {
            while (true)
            {
                if (_queue.TryDequeue(out var cts))
                {
                    CancelQuietly(cts);
                }

                Interlocked.Increment(ref _idle);
                if (!WaitForWork())
                {
                    return;
                }
            }
        }
        finally
        {
            Interlocked.Decrement(ref _workers);
        }
    }

    /// <summary>True when the dispatcher handed this worker a cancellation; false when it may end (idle too long, and
    /// taken off the idle count before the dispatcher counted on it).</summary>
    private bool WaitForWork()
    {
        while (true)
        {
            if (_work.Wait(IdleTimeout))
            {
                return true;
            }

            if (TryTakeIdle())
            {
                return false;
            }

            // The dispatcher took every idle worker, this one among them: its signal is on the way.
        }
    }

    /// <summary>Takes one worker off the idle count, if any is idle: the dispatcher, to hand it a cancellation; a worker
    /// idle too long, to end (the count is of workers, not of particular ones).</summary>
    private bool TryTakeIdle()
    {
        var idle = Volatile.Read(ref _idle);
        return idle > 0 && Interlocked.CompareExchange(ref _idle, idle - 1, idle) == idle;
    }

    private static void CancelQuietly(CancellationTokenSource cts)
    {
        try
        {
            cts.Cancel();
        }
        catch (Exception)
        {
            // Best effort: the abandoned call's own outcome is observed by its continuation.
        }
    }
}
