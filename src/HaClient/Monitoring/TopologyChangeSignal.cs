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
/// it; so a caller waits through <see cref="WhenChangedAsync"/>, which gives each waiter a continuation of its own that
/// runs on the completing thread. Those continuations run on the wake thread up to their first asynchronous wait. HaClient's own code
/// does no blocking work there; a caller's work callback that blocked before its first <c>await</c> would delay the
/// wake-ups of every component (and would also hold a thread-pool thread, which is worse on any path).
/// </remarks>
public sealed class TopologyChangeSignal
{
    private TaskCompletionSource _current = new();

    /// <summary>Completes at the next <see cref="Pulse"/>.</summary>
    public Task Task => Volatile.Read(ref _current).Task;

    /// <summary>Waits until <paramref name="changed"/> (a <see cref="Task"/> read before the caller's selection) completes,
    /// for at most <paramref name="timeout"/> (then <see cref="TimeoutException"/>); the caller resumes on the thread that
    /// completed it (the wake thread), not through the thread pool, and on the system clock a timeout ends it on
    /// HaClient's deadline thread, not on a pool timer. Allocates only when it has to wait.</summary>
    public static Task WhenChangedAsync(Task changed, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(changed);
        ArgumentNullException.ThrowIfNull(time);
        if (changed.IsCompleted)
        {
            return Task.CompletedTask;
        }

        if (ReferenceEquals(time, TimeProvider.System))
        {
            // The timeout too is off the pool: it ends on HaClient's deadline thread, not on a timer's pool work item.
            return ChangeWait.Start(changed, timeout, cancellationToken);
        }

        // ExecuteSynchronously: run on the completing thread even when the task has many continuations; the promise
        // WaitAsync returns then has this continuation alone, which also runs inline, and so does its one awaiter.
        return changed
            .ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default)
            .WaitAsync(timeout, time, cancellationToken);
    }

    /// <summary>Completes the current <see cref="Task"/> (its waiters are woken on the wake thread) and starts the next.
    /// Safe to call under the monitor's lock: it only swaps and enqueues.</summary>
    public void Pulse()
    {
        var signaled = Interlocked.Exchange(ref _current, new TaskCompletionSource());
        WakeThread.Instance.Complete(signaled);
    }

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
                        signal.TrySetResult();
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
