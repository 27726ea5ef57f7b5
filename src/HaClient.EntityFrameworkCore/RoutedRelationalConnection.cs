using System.Data;
using HaClient.AspNetCore;
using HaClient.Postgres;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.Logging;
using Npgsql;
using Npgsql.EntityFrameworkCore.PostgreSQL.Storage.Internal;

namespace HaClient.EntityFrameworkCore;

/// <summary>
/// Npgsql's relational connection, opening each physical connection through the <see cref="PostgresCluster"/> on the
/// host the next command needs: <see cref="PostgresCluster.OpenWriteConnectionAsync"/> (the primary, refused on a
/// standby) for anything but a routed read, <see cref="PostgresCluster.OpenReadConnectionAsync"/> for a read. The
/// connection it gets comes from HaClient's own pool of that host and goes back there when EF Core closes it, so EF Core
/// has no pools of its own and a demoted host's pool, cleared by the monitor, is cleared for EF Core too.
/// </summary>
/// <remarks>
/// The route is chosen only when EF Core opens the connection. While it is open (an explicit transaction, an
/// explicitly opened connection, a reader being enumerated) every command runs on it, so a transaction never spans two
/// hosts. After a write the connection reads the primary's WAL position before it closes: the context's read-your-writes
/// token.
/// </remarks>
internal sealed partial class RoutedRelationalConnection : NpgsqlRelationalConnection
{
    private readonly PostgresCluster _cluster;
    private readonly IReadYourWrites? _requestTokens;
    private readonly ILogger _logger;
    private CommandRoute _pending;
    private CommandRoute _openRoute;
    private ulong _token;
    private bool _wrote;
    private bool _tokenUnknown;

    public RoutedRelationalConnection(RelationalConnectionDependencies dependencies, NpgsqlDataSourceManager dataSourceManager, IDbContextOptions options)
        : base(dependencies, dataSourceManager, options)
    {
        var extension = options.FindExtension<HaClientOptionsExtension>()
            ?? throw new InvalidOperationException("HaClient.EntityFrameworkCore's services are registered without UseHaClient in the context's options.");
        _cluster = extension.Cluster;
        _requestTokens = extension.RequestTokens;
        _logger = dependencies.ConnectionLogger.Logger;
    }

    public PostgresCluster Cluster => _cluster;

    /// <summary>The consistency every read of this context uses unless a query asks for more: set by
    /// <see cref="HaClientDbContextExtensions.ReadFrom"/>; <see langword="null"/> routes by what each command is.</summary>
    public ReadConsistency? Scope { get; set; }

    /// <summary>The context's read-your-writes token: the latest of its writes' tokens and those it was given.</summary>
    public ConsistencyToken Token
    {
        get
        {
            var own = new ConsistencyToken(_token);
            return _requestTokens is null ? own : ConsistencyToken.Max(own, _requestTokens.Token);
        }
    }

    /// <summary>Raises the context's token to <paramref name="token"/> (and the request's, under ASP.NET Core).</summary>
    public void Observe(ConsistencyToken token)
    {
        if (token.Lsn > _token)
        {
            _token = token.Lsn;
        }

        _requestTokens?.Observe(token);
    }

    /// <summary>Called by the command just before EF Core opens the connection for it: the route that open takes.</summary>
    public void SetNextRoute(CommandRoute route)
    {
        _pending = route;
        if (!route.IsRead && DbConnection.State != ConnectionState.Closed)
        {
            if (_openRoute.IsRead)
            {
                // Only while a reader on a replica is being enumerated: PostgreSQL would refuse the write as read-only.
                throw new InvalidOperationException("A write was started while this DbContext's connection is open for a read (a query still being enumerated); finish the query first.");
            }

            _wrote = true;
        }
    }

    /// <summary>Called by the command when it has returned (its open, if any, took the route).</summary>
    public void ClearNextRoute() => _pending = default;

    /// <summary>What a read asked for, raised to the context's token (or the primary, while a write's token is unknown).</summary>
    public ReadConsistency Effective(ReadConsistency asked)
    {
        if (asked.Kind == ReadConsistencyKind.Primary || _tokenUnknown)
        {
            return ReadConsistency.Primary;
        }

        var token = ConsistencyToken.Max(Token, asked.Token);
        return token.IsEmpty ? asked : ReadConsistency.AtLeast(token);
    }

    /// <summary>host:port of the physical connection, open or closed (for HaClient's exceptions).</summary>
    public string Endpoint => DbConnection.DataSource is { Length: > 0 } source ? source.Replace("tcp://", string.Empty, StringComparison.Ordinal) : _cluster.Name;

    public override Task<bool> OpenAsync(CancellationToken cancellationToken, bool errorsExpected = false)
    {
        // Any open that no routed read asked for (a transaction, SaveChanges, raw SQL, migrations, an explicit
        // OpenConnection) takes the write route. On a connection already open the command runs where it is.
        if (DbConnection.State != ConnectionState.Open)
        {
            _openRoute = _pending;
        }

        _pending = default;
        return base.OpenAsync(cancellationToken, errorsExpected);
    }

    public override bool Open(bool errorsExpected = false)
    {
        if (DbConnection.State != ConnectionState.Open)
        {
            _openRoute = default;
        }

        _pending = default;
        return base.Open(errorsExpected);
    }

    protected override async Task OpenDbConnectionAsync(bool errorsExpected, CancellationToken cancellationToken)
    {
        var route = _openRoute;
        var physical = route.IsRead
            ? await _cluster.OpenReadConnectionAsync(Effective(route.Consistency), cancellationToken).ConfigureAwait(false)
            : await _cluster.OpenWriteConnectionAsync(cancellationToken).ConfigureAwait(false);

        // EF Core resets the command timeout when the connection is replaced; the user's setting is kept. (Replacing
        // closes the previous physical connection, already closed and back in its pool.)
        var timeout = CommandTimeout;
        SetDbConnection(physical, contextOwnsConnection: true);
        CommandTimeout = timeout;
        _wrote = !route.IsRead && route.Writes;
    }

    protected override void OpenDbConnection(bool errorsExpected)
        => throw new NotSupportedException(
            "HaClient.EntityFrameworkCore opens connections asynchronously only (SaveChangesAsync, ToListAsync, MigrateAsync, BeginTransactionAsync, OpenConnectionAsync): "
            + "a synchronous open would hold a thread-pool thread while a failover is waited out.");

    protected override async Task CloseDbConnectionAsync()
    {
        if (_wrote && DbConnection is NpgsqlConnection { State: ConnectionState.Open } connection)
        {
            _wrote = false;
            await CaptureTokenAsync(connection).ConfigureAwait(false);
        }

        _wrote = false;
        await base.CloseDbConnectionAsync().ConfigureAwait(false);
    }

    protected override void CloseDbConnection()
    {
        if (_wrote)
        {
            // A synchronous close (the context disposed with its connection open) cannot wait for the token without
            // blocking: reads of this context go to the primary until a later write's token is read.
            _tokenUnknown = true;
        }

        _wrote = false;
        base.CloseDbConnection();
    }

    protected override async ValueTask<System.Data.Common.DbTransaction> ConnectionBeginTransactionAsync(IsolationLevel isolationLevel, CancellationToken cancellationToken = default)
    {
        // A transaction's commit is no command: the token is read when the connection closes after it.
        _wrote = true;
        return await base.ConnectionBeginTransactionAsync(isolationLevel, cancellationToken).ConfigureAwait(false);
    }

    private async Task CaptureTokenAsync(NpgsqlConnection connection)
    {
        try
        {
            Observe(await PostgresCluster.GetConsistencyTokenAsync(connection, CancellationToken.None).ConfigureAwait(false));
            _tokenUnknown = false;
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException)
        {
            // The write may have committed: until a later write's token is known, this context reads from the primary.
            _tokenUnknown = true;
            LogTokenUnknown(_logger, _cluster.Name, e.GetType().Name);
        }
    }

    protected override void ResetState(bool disposeDbConnection)
    {
        base.ResetState(disposeDbConnection);
        if (!disposeDbConnection)
        {
            // A pooled context returned to its pool: the next lease starts with no token and no scope.
            ForgetContextState();
        }
    }

    protected override async ValueTask ResetStateAsync(bool disposeDbConnection)
    {
        await base.ResetStateAsync(disposeDbConnection).ConfigureAwait(false);
        if (!disposeDbConnection)
        {
            ForgetContextState();
        }
    }

    private void ForgetContextState()
    {
        _token = 0;
        _tokenUnknown = false;
        Scope = null;
    }

    [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "Cluster {Cluster}: the read-your-writes token after an EF Core write could not be read ({Error}); this context reads from the primary until its next write")]
    private static partial void LogTokenUnknown(ILogger logger, string cluster, string error);
}
