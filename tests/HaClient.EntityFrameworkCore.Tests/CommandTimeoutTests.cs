using HaClient.Postgres;
using Microsoft.EntityFrameworkCore;
using Npgsql.EntityFrameworkCore.PostgreSQL.Infrastructure.Internal;
using Xunit;

namespace HaClient.EntityFrameworkCore.Tests;

/// <summary>EF Core's commands run outside HaClient's budget and HaClient's pools set no Npgsql command timeout, so
/// UseHaClient gives EF's commands one unless the provider options set their own (no server needed: creating a cluster
/// opens nothing).</summary>
public class CommandTimeoutTests
{
    private static PostgresCluster Cluster(TimeSpan budget) => PostgresCluster.Create(new PostgresClusterOptions
    {
        ConnectionString = "Host=127.0.0.1:1;Username=u;Password=p;Database=d",
        Resilience = { OperationTimeout = budget },
    });

    private static int? CommandTimeout(PostgresCluster cluster, Action<Npgsql.EntityFrameworkCore.PostgreSQL.Infrastructure.NpgsqlDbContextOptionsBuilder>? npgsql = null)
        => new DbContextOptionsBuilder<TestDb>().UseHaClient(cluster, npgsql).Options.FindExtension<NpgsqlOptionsExtension>()!.CommandTimeout;

    [Fact]
    public async Task Left_out_it_is_30_s_or_twice_a_longer_budget_and_a_set_one_is_kept()
    {
        await using var short_ = Cluster(TimeSpan.FromSeconds(2));
        Assert.Equal(30, CommandTimeout(short_));
        Assert.Equal(5, CommandTimeout(short_, n => n.CommandTimeout(5)));

        await using var long_ = Cluster(TimeSpan.FromSeconds(40));
        Assert.Equal(80, CommandTimeout(long_));
    }
}
