using HaClient;
using HaClient.Postgres;
using Npgsql;

namespace HaClient.Sample;

/// <summary>Creates the items table once a primary is reachable. Runs in the background: the app starts (and reports
/// itself degraded) while the database is down.</summary>
internal sealed partial class ItemsSchema(PostgresCluster cluster, ILogger<ItemsSchema> logger) : BackgroundService
{
    public const string CreateSql = """
        CREATE TABLE IF NOT EXISTS sample_items(
            id bigserial PRIMARY KEY,
            name text NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now())
        """;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var retry = new PeriodicTimer(TimeSpan.FromSeconds(2));
        do
        {
            try
            {
                await cluster.ExecuteWriteAsync(async (c, ct) =>
                {
                    await using var cmd = new NpgsqlCommand(CreateSql, c);
                    return await cmd.ExecuteNonQueryAsync(ct);
                }, stoppingToken);
                LogReady(logger);
                return;
            }
            catch (Exception e) when (e is HaClientException or NpgsqlException && !stoppingToken.IsCancellationRequested)
            {
                LogNotYet(logger, e.GetType().Name);
            }
        }
        while (await retry.WaitForNextTickAsync(stoppingToken));
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "sample_items is ready")]
    private static partial void LogReady(ILogger logger);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "sample_items not created yet ({Error}); retrying")]
    private static partial void LogNotYet(ILogger logger, string error);
}
