using HaClient.AspNetCore;
using HaClient.Postgres;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Query;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Npgsql.EntityFrameworkCore.PostgreSQL.Storage.Internal;

namespace HaClient.EntityFrameworkCore;

/// <summary>
/// What <c>UseHaClient</c> adds to a context's options: the cluster, the request's read-your-writes token (when the
/// ASP.NET Core middleware is in use), and the four EF Core services that route: the relational connection (opens on
/// the host a command needs), the command (tells the connection what it is about to run), the query compilation
/// context (marks no-tracking and <c>ReadFrom</c>-tagged queries) and the execution strategy (retries a failed read on
/// another node).
/// </summary>
/// <remarks>The cluster and the token are per context and not part of EF Core's internal service provider key, so every
/// context of a type shares one internal provider whichever cluster or request it serves.</remarks>
internal sealed class HaClientOptionsExtension(PostgresCluster cluster, IReadYourWrites? requestTokens) : IDbContextOptionsExtension
{
    private ExtensionInfo? _info;

    public PostgresCluster Cluster { get; } = cluster;

    /// <summary>The request's token (ASP.NET Core), raised by every SaveChanges and read by every routed query.</summary>
    public IReadYourWrites? RequestTokens { get; } = requestTokens;

    public DbContextOptionsExtensionInfo Info => _info ??= new ExtensionInfo(this);

    public void ApplyServices(IServiceCollection services)
    {
        services.Replace(ServiceDescriptor.Scoped<INpgsqlRelationalConnection, RoutedRelationalConnection>());
        services.Replace(ServiceDescriptor.Scoped<IRelationalConnection>(static p => p.GetRequiredService<INpgsqlRelationalConnection>()));
        services.Replace(ServiceDescriptor.Singleton<IRelationalCommandBuilderFactory, RoutedRelationalCommandBuilderFactory>());
        services.Replace(ServiceDescriptor.Scoped<IQueryCompilationContextFactory, RoutedQueryCompilationContextFactory>());
        services.Replace(ServiceDescriptor.Scoped<IExecutionStrategyFactory, RoutedExecutionStrategyFactory>());
    }

    public void Validate(IDbContextOptions options)
    {
    }

    private sealed class ExtensionInfo(IDbContextOptionsExtension extension) : DbContextOptionsExtensionInfo(extension)
    {
        public override bool IsDatabaseProvider => false;

        public override string LogFragment => "UsingHaClient ";

        public override int GetServiceProviderHashCode() => 0;

        public override bool ShouldUseSameServiceProvider(DbContextOptionsExtensionInfo other) => other is ExtensionInfo;

        public override void PopulateDebugInfo(IDictionary<string, string> debugInfo) => debugInfo["HaClient"] = "1";
    }
}
