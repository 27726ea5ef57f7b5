using Xunit;

namespace HaClient.Testing;

/// <summary>Holds the lab's drill lock for the whole collection (its tests inject faults) and brings the plain
/// streaming-replication lab up once.</summary>
public sealed class PlainLabFixture : IAsyncLifetime
{
    private IDisposable? _drillLock;

    public async Task InitializeAsync()
    {
        _drillLock = await Lab.DrillLockAsync(TimeSpan.FromMinutes(15));
        await Lab.RunAsync("pg up");
    }

    public Task DisposeAsync()
    {
        _drillLock?.Dispose();
        return Task.CompletedTask;
    }
}
