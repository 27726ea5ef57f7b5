using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace HaClient.Testing;

/// <summary>An <see cref="ILoggerFactory"/> that keeps every formatted message with its level, for tests that assert
/// what a component logged.</summary>
public sealed class RecordingLoggerFactory : ILoggerFactory
{
    public ConcurrentQueue<(LogLevel Level, string Message)> Entries { get; } = new();

    /// <summary>The messages that were logged on a thread-pool thread (the same messages are in <see cref="Entries"/>).</summary>
    public ConcurrentQueue<string> OnThreadPool { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class Logger(RecordingLoggerFactory owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var message = formatter(state, exception);
            owner.Entries.Enqueue((logLevel, message));
            if (Thread.CurrentThread.IsThreadPoolThread)
            {
                owner.OnThreadPool.Enqueue(message);
            }
        }
    }
}
