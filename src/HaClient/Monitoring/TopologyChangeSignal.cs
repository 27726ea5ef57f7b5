using System.Collections.Concurrent;

namespace HaClient.Monitoring;

/// <summary>
/// What callers waiting for an endpoint wait on: a task that completes at the next topology change. A monitor calls
/// <see cref="Pulse"/> when it publishes a change; the waiting callers are then woken on one dedicated thread shared by
/// every component, never by queuing a work item per caller to the thread pool. During a failover the pool is what is
/// short (every caller is waiting or retrying, on a 2-core machine with 2 workers), and a caller woken through it
/// reaches the new primary only when a worker is free; woken here, each caller runs at once up to its first I/O (the
/// selection, the admission gate, the connection open), so the first writes are on their way to the new primary within
/// the wake-up itself.
/// </summary>
/// <remarks>
/// A task with many awaiters hands all but one of them to the thread pool when it completes, whatever thread completes
/// it; so a caller waits through <see cref="WhenChangedAsync"/>, which registers each waiter with the signal's current
/// generation (and removes it when its wait times out or is cancelled); the wake thread ends the registered waits
/// itself, and their callers run there up to their first asynchronous wait. HaClient's own code
/// does no blocking work there; a caller's work callback that blocked before its first <c>await</c> would delay the
/// wake-ups of every component (and would also hold a thread-pool thread, which is worse on any path).
/// </remarks>
public sealed class TopologyChangeSignal
{
    private TaskCompletionSource _current = NewGeneration();

    /// <summary>Completes at the next <see cref="Pulse"/>.</summary>
    public Task Task => Volatile.Read(ref _current).Task;

    /// <summary>Waits until <paramref name="changed"/> (a <see cref="Task"/> read before the caller's selection) completes,
    /// for at most <paramref name="timeout"/>: <see langword="true"/> when it completed, <see langword="false"/> when the
    /// timeout passed first (no exception), cancelled with <paramref name="cancellationToken"/>. The caller resumes on
    /// the thread that completed it (the wake thread), not through the thread pool; on the system clock a timeout ends
    /// it on HaClient's deadline thread, not on a pool timer. A wait that ends leaves nothing behind on a signal's task
    /// (a task that is not a <see cref="Task"/> of this class gets a continuation per wait instead, which stays until it
    /// completes). Allocates only when it has to wait.</summary>
    public static Task<bool> WhenChangedAsync(Task changed, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(changed);
        ArgumentNullException.ThrowIfNull(time);
        if (changed.IsCompleted)
        {
            return Changed;
        }

        var wakeup = changed.AsyncState is Generation generation ? generation.Token : default;
        return ChangeWait.Start(changed, wakeup, timeout, time, cancellationToken);
    }

    /// <summary>Completes the current <see cref="Task"/> (its waiters are woken on the wake thread) and starts the next.
    /// Safe to call under the monitor's lock: it only swaps and enqueues.</summary>
    public void Pulse()
    {
        var signaled = Interlocked.Exchange(ref _current, NewGeneration());
        WakeThread.Instance.Complete(signaled);
    }

    private static readonly Task<bool> Changed = System.Threading.Tasks.Task.FromResult(true);

    // A generation's task carries its waiters' registry as its state: each wait registers a callback on it and removes
    // it when it ends, which a continuation on the task could not do.
    private static TaskCompletionSource NewGeneration() => new(new Generation());

    private sealed class Generation : CancellationTokenSource;

    /// <summary>The one thread that completes pulsed signals, started on first use and kept for the process (a background
    /// thread: it never keeps the process alive).</summary>
    private sealed class WakeThread
    {
        public static readonly WakeThread Instance = new();

        private readonly ConcurrentQueue<TaskCompletionSource> _pending = new();
        private readonly HaClient.Resilience.ThreadSignal _ready = new();

        private WakeThread()
        {
            new Thread(Run) { IsBackground = true, Name = "HaClient wake" }.Start();
        }

        public void Complete(TaskCompletionSource signal)
        {
            _pending.Enqueue(signal);
            _ready.Release();
        }

        private void Run()
        {
            while (true)
            {
                _ready.Wait();
                while (_pending.TryDequeue(out var signal))
                {
                    try
                    {
                        // The task first (a wait that starts now sees it completed), then the registered waits.
                        signal.TrySetResult();
                        ((Generation)signal.Task.AsyncState!).Cancel();
                    }
                    catch (Exception)
                    {
                        // A continuation's own failure is its caller's; the thread goes on waking the others.
                    }
                }
            }
        }
    }
}
