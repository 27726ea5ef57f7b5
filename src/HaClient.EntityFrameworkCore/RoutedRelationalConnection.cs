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
    private int _openHost = -1;
    private int _excludeHost = -1;
    private IReadOnlyDictionary<string, object?>? _markedParameters;
    private QueryReadRoute? _markedRoute;
    private bool _retryableRead;
    private ConsistencyToken _token;
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
            return _requestTokens is null ? _token : ConsistencyToken.Max(_token, _requestTokens.GetPostgresToken(_cluster.Name));
        }
    }

    /// <summary>Raises the context's token to <paramref name="token"/> (and the request's, under ASP.NET Core).</summary>
    public void Observe(ConsistencyToken token)
    {
        _token = ConsistencyToken.Max(_token, token);
        _requestTokens?.ObservePostgres(_cluster.Name, token);
    }

    /// <summary>Called by the command just before EF Core opens the connection for it: the route that open takes.</summary>
    public void SetNextRoute(CommandRoute route)
    {
        _pending = route;
        _retryableRead = route.IsRead && DbConnection.State == ConnectionState.Closed;
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

    /// <summary>Whether the latest command was a read that opened the connection itself (nothing else ran on it): the
    /// execution strategy may run it again on another node. Reading it clears it.</summary>
    public bool TakeRetryableRead()
    {
        var retryable = _retryableRead;
        _retryableRead = false;
        return retryable;
    }

    /// <summary>Set when the context runs under an application's own execution strategy: the command then retries a
    /// failed read itself (<see cref="RoutedExecutionStrategy"/> is not there to).</summary>
    public bool RetriesReadsInCommand { get; set; }

    /// <summary>Called by a compiled query as an execution starts: its route, tied to that execution's parameters.</summary>
    public void MarkQuery(IReadOnlyDictionary<string, object?> parameters, QueryReadRoute route)
    {
        _markedParameters = parameters;
        _markedRoute = route;
    }

    /// <summary>The route a query marked for the execution whose parameters are <paramref name="parameters"/>, or
    /// <see langword="null"/>.</summary>
    public QueryReadRoute? MarkOf(IReadOnlyDictionary<string, object?>? parameters)
        => parameters is not null && ReferenceEquals(parameters, _markedParameters) ? _markedRoute : null;

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

    /// <summary>The index of the host the connection was last opened on for a read; -1 for a write or before any.</summary>
    public int OpenHost => _openHost;

    /// <summary>Called by the command before it retries a read that failed on <paramref name="host"/>: the next open
    /// routes to another eligible node (the router's own exclusion, as the core API's retry uses it).</summary>
    public void ExcludeOnNextOpen(int host) => _excludeHost = host;

    // Not an async method: when the cluster's open completes at once (an idle pooled connection), no state machine is
    // allocated on top of the core path's own.
    protected override Task OpenDbConnectionAsync(bool errorsExpected, CancellationToken cancellationToken)
    {
        var route = _openRoute;
        if (!route.IsRead)
        {
            _openHost = -1;
            _excludeHost = -1; // an exclusion is for the retried read's own open only
            var write = _cluster.OpenWriteConnectionAsync(cancellationToken);
            if (!write.IsCompletedSuccessfully)
            {
                return AwaitWriteOpenAsync(write, route);
            }

            Use(write.Result, route);
            return Task.CompletedTask;
        }

        var exclude = _excludeHost;
        _excludeHost = -1;
        _openHost = -1;
        var routed = _cluster.RouteReadAsync(Effective(route.Consistency), exclude, cancellationToken);
        if (!routed.IsCompletedSuccessfully)
        {
            return AwaitReadOpenAsync(routed, route, cancellationToken);
        }

        var host = routed.Result;
        _openHost = host.Index;
        var open = _cluster.OpenRouteAsync(host, cancellationToken);
        if (!open.IsCompletedSuccessfully)
        {
            return AwaitOpenAsync(open, route);
        }

        Use(open.Result, route);
        return Task.CompletedTask;
    }

    private async Task AwaitWriteOpenAsync(ValueTask<NpgsqlConnection> open, CommandRoute route) => Use(await open.ConfigureAwait(false), route);

    private async Task AwaitReadOpenAsync(ValueTask<ReadRoute> routed, CommandRoute route, CancellationToken cancellationToken)
    {
        var host = await routed.ConfigureAwait(false);
        _openHost = host.Index;
        Use(await _cluster.OpenRouteAsync(host, cancellationToken).ConfigureAwait(false), route);
    }

    private async Task AwaitOpenAsync(Task<NpgsqlConnection> open, CommandRoute route) => Use(await open.ConfigureAwait(false), route);

    /// <summary>Makes <paramref name="physical"/>, open, the context's connection.</summary>
    private void Use(NpgsqlConnection physical, CommandRoute route)
    {
        // EF Core resets the command timeout when the connection is replaced; the user's setting is kept. (Replacing
        // closes the previous physical connection, already closed and back in its pool.)
        var timeout = CommandTimeout;
        SetDbConnection(physical, contextOwnsConnection: true);
        CommandTimeout = timeout;
        _wrote = !route.IsRead && route.Writes;
    }

    /// <summary>Until the first open, the context's connection is one placeholder shared by every context, never
    /// opened, closed or disposed (it is disposed from the start, so that opening it by hand fails at once): EF Core
    /// creates no connection object of its own beside the cluster's.</summary>
    protected override System.Data.Common.DbConnection CreateDbConnection() => Unrouted;

    private static readonly NpgsqlConnection Unrouted = CreateUnrouted();

    private static NpgsqlConnection CreateUnrouted()
    {
        var connection = new NpgsqlConnection();
        connection.Dispose();
        return connection;
    }

    private bool IsUnrouted => ReferenceEquals(DbConnection, Unrouted);

    protected override void DisposeDbConnection()
    {
        if (!IsUnrouted)
        {
            base.DisposeDbConnection();
        }
    }

    protected override ValueTask DisposeDbConnectionAsync() => IsUnrouted ? default : base.DisposeDbConnectionAsync();

    protected override void OpenDbConnection(bool errorsExpected)
        => throw new NotSupportedException(
            "HaClient.EntityFrameworkCore opens connections asynchronously only (SaveChangesAsync, ToListAsync, MigrateAsync, BeginTransactionAsync, OpenConnectionAsync): "
            + "a synchronous open would hold a thread-pool thread while a failover is waited out.");

    // Not an async method, for the same reason as the open: a close that returns a connection to its pool at once
    // allocates nothing here.
    protected override Task CloseDbConnectionAsync()
    {
        if (_wrote && DbConnection is NpgsqlConnection { State: ConnectionState.Open } connection)
        {
            _wrote = false;
            return CaptureTokenAndCloseAsync(connection);
        }

        _wrote = false;
        return IsUnrouted ? Task.CompletedTask : base.CloseDbConnectionAsync();
    }

    private async Task CaptureTokenAndCloseAsync(NpgsqlConnection connection)
    {
        await CaptureTokenAsync(connection).ConfigureAwait(false);
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
        if (!IsUnrouted)
        {
            base.CloseDbConnection();
        }
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

    protected override ValueTask ResetStateAsync(bool disposeDbConnection)
        => disposeDbConnection ? base.ResetStateAsync(disposeDbConnection) : ResetAndForgetAsync();

    private async ValueTask ResetAndForgetAsync()
    {
        await base.ResetStateAsync(disposeDbConnection: false).ConfigureAwait(false);
        ForgetContextState();
    }

    private void ForgetContextState()
    {
        _token = default;
        _tokenUnknown = false;
        Scope = null;
        _markedParameters = null;
        _markedRoute = null;
    }

    [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "Cluster {Cluster}: the read-your-writes token after an EF Core write could not be read ({Error}); this context reads from the primary until its next write")]
    private static partial void LogTokenUnknown(ILogger logger, string cluster, string error);
}
