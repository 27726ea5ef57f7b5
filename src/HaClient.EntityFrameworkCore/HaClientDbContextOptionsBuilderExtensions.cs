using HaClient.AspNetCore;
using HaClient.Postgres;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Npgsql.EntityFrameworkCore.PostgreSQL.Infrastructure;
using Npgsql.EntityFrameworkCore.PostgreSQL.Infrastructure.Internal;

namespace HaClient.EntityFrameworkCore;

/// <summary>Configures a DbContext to run on a <see cref="PostgresCluster"/>.</summary>
public static class HaClientDbContextOptionsBuilderExtensions
{
    /// <summary>
    /// Runs the context on <paramref name="cluster"/> through Npgsql's EF Core provider (it calls <c>UseNpgsql</c>
    /// with <paramref name="npgsqlOptions"/>, so migrations, type plugins and compiled models work as usual). Every
    /// connection is opened by the cluster on its own per-host pools: SaveChanges, transactions, raw SQL and migrations
    /// on the primary; no-tracking queries on a replica within the lag bound (else the primary); tracked queries on the
    /// primary. See <see cref="HaClientDbContextExtensions.ReadFrom"/> for other reads.
    /// </summary>
    /// <param name="optionsBuilder">The context's options.</param>
    /// <param name="cluster">The cluster (created once per application).</param>
    /// <param name="npgsqlOptions">Npgsql provider options (NodaTime, migrations assembly…), also settable in a
    /// <c>UseNpgsql(npgsql => …)</c> call before this one. No connection string: the cluster holds it.</param>
    /// <param name="readYourWrites">The request's read-your-writes token (ASP.NET Core): every SaveChanges raises it and
    /// every routed read sees it, so the client's next request reads its own writes.</param>
    public static DbContextOptionsBuilder UseHaClient(this DbContextOptionsBuilder optionsBuilder, PostgresCluster cluster, Action<NpgsqlDbContextOptionsBuilder>? npgsqlOptions = null, IReadYourWrites? readYourWrites = null)
    {
        ArgumentNullException.ThrowIfNull(optionsBuilder);
        ArgumentNullException.ThrowIfNull(cluster);
        if (optionsBuilder.Options.FindExtension<NpgsqlOptionsExtension>() is { } npgsql
            && (npgsql.ConnectionString is not null || npgsql.Connection is not null || npgsql.DataSource is not null))
        {
            throw new ArgumentException(
                "UseHaClient: the context already has a connection string, connection or data source from UseNpgsql. Remove it: "
                + "HaClient opens every connection on the cluster's own per-host pools (PostgresClusterOptions.ConnectionString).",
                nameof(optionsBuilder));
        }

        optionsBuilder.UseNpgsql(npgsqlOptions);
        if (optionsBuilder.Options.FindExtension<NpgsqlOptionsExtension>()?.CommandTimeout is null)
        {
            // EF Core's commands run outside the operation budget, and HaClient's pools set no Npgsql command timeout
            // (its timeout path cancels on a thread-pool thread; the budget bounds HaClient's own calls). Give EF's
            // commands the bound Npgsql's default gave them, unless the provider options set one.
            new NpgsqlDbContextOptionsBuilder(optionsBuilder).CommandTimeout(DefaultCommandTimeoutSeconds(cluster));
        }

        ((IDbContextOptionsBuilderInfrastructure)optionsBuilder).AddOrUpdateExtension(new HaClientOptionsExtension(cluster, readYourWrites));
        return optionsBuilder;
    }

    /// <summary>
    /// As <see cref="UseHaClient(DbContextOptionsBuilder, PostgresCluster, Action{NpgsqlDbContextOptionsBuilder}, IReadYourWrites)"/>,
    /// for services that register clusters with <c>AddHighAvailability</c>: the cluster named
    /// <paramref name="clusterName"/>, and the request's <see cref="IReadYourWrites"/> when one is registered (so the
    /// read-your-writes middleware carries the context's writes to the client's next request). Call it from
    /// <c>AddDbContext((services, options) => …)</c>, whose options are per scope; a pooled context
    /// (<c>AddDbContextPool</c>) gets no request token this way.
    /// </summary>
    /// <param name="optionsBuilder">The context's options.</param>
    /// <param name="services">The scope's services (the first argument of <c>AddDbContext</c>'s options action).</param>
    /// <param name="clusterName">The cluster's name under <c>HighAvailability:Postgres</c>.</param>
    /// <remarks>Provider options (migrations assembly, NodaTime…) go in a <c>UseNpgsql(npgsql => …)</c> call, without a
    /// connection string, before this one.</remarks>
    public static DbContextOptionsBuilder UseHaClient(this DbContextOptionsBuilder optionsBuilder, IServiceProvider services, string clusterName)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(clusterName);
        var cluster = services.GetKeyedService<PostgresCluster>(clusterName)
            ?? throw new InvalidOperationException($"UseHaClient: no PostgreSQL cluster named '{clusterName}' is registered; add it under HighAvailability:Postgres:{clusterName} or with AddHighAvailability().AddPostgres(\"{clusterName}\", …).");
        return optionsBuilder.UseHaClient(cluster, null, services.GetService<IReadYourWrites>());
    }

    /// <summary>EF Core's command timeout when the provider options set none: 30 s, or twice the cluster's operation
    /// budget when that is longer.</summary>
    internal static int DefaultCommandTimeoutSeconds(PostgresCluster cluster)
        => (int)Math.Max(30, Math.Ceiling(2 * cluster.Options.Resilience.OperationTimeout.TotalSeconds));
}
