using System.Runtime.CompilerServices;

namespace HaClient.Postgres;

/// <summary>
/// Bounds how many connections are being opened to one host at once while it is new as primary. Right after a failover
/// every caller turns to the new primary together and its pool is empty: without a bound each of them starts a
/// connection (a fork and an authentication on the server, a SCRAM key derivation on this client's cores) in the same
/// instant. While the ramp is armed, opens go through a gate of <c>limit</c> at a time, first come first served, within
/// each caller's deadline (its token); it disarms itself once as many opens as the pool holds have passed, or after
/// <c>maxDuration</c>, whichever comes first. Disarmed (nearly always) an open costs one field read.
/// </summary>
internal sealed class ConnectionRamp
{
    private readonly SemaphoreSlim? _gate;
    private readonly int _opensToPass;
    private readonly long _maxTicks;
    private readonly TimeProvider _time;
    private long _armedUntil;
    private int _passed;

    /// <summary>No ramp: every open goes straight to the pool.</summary>
    public static ConnectionRamp None { get; } = new(0, 0, TimeSpan.Zero, TimeProvider.System);

    /// <param name="limit">Opens at a time while armed; 0 = no ramp.</param>
    /// <param name="opensToPass">Opens after which the ramp disarms (the pool's size: by then it has filled).</param>
    /// <param name="maxDuration">The longest the ramp stays armed.</param>
    /// <param name="time">The clock.</param>
    public ConnectionRamp(int limit, int opensToPass, TimeSpan maxDuration, TimeProvider time)
    {
        _gate = limit > 0 ? new SemaphoreSlim(limit, limit) : null;
        _opensToPass = opensToPass;
        _maxTicks = (long)(maxDuration.TotalSeconds * time.TimestampFrequency);
        _time = time;
    }

    /// <summary>Whether opens go through the gate now.</summary>
    public bool IsArmed => Volatile.Read(ref _armedUntil) != 0;

    /// <summary>Arms the ramp (the host was just adopted as primary). No effect without a limit.</summary>
    public void Arm()
    {
        if (_gate is null)
        {
            return;
        }

        Volatile.Write(ref _passed, 0);
        Volatile.Write(ref _armedUntil, _time.GetTimestamp() + Math.Max(1, _maxTicks));
    }

    /// <summary>Opens through <paramref name="open"/>, through the gate while armed.</summary>
    public ValueTask<T> OpenAsync<T, TState>(Func<TState, CancellationToken, ValueTask<T>> open, TState state, CancellationToken cancellationToken)
        => Volatile.Read(ref _armedUntil) == 0 ? open(state, cancellationToken) : OpenGatedAsync(open, state, cancellationToken);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<T> OpenGatedAsync<T, TState>(Func<TState, CancellationToken, ValueTask<T>> open, TState state, CancellationToken cancellationToken)
    {
        var armedUntil = Volatile.Read(ref _armedUntil);
        if (armedUntil == 0 || _time.GetTimestamp() >= armedUntil)
        {
            Interlocked.CompareExchange(ref _armedUntil, 0, armedUntil);
            return await open(state, cancellationToken).ConfigureAwait(false);
        }

        await _gate!.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await open(state, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
            if (Interlocked.Increment(ref _passed) >= _opensToPass)
            {
                Interlocked.CompareExchange(ref _armedUntil, 0, armedUntil);
            }
        }
    }
}
