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
    // One of these per DbContext: its fields are what a routed query costs beyond Npgsql's connection, so the cluster and
    // the request's tokens stay on the options extension, the scope and the pending read are one reference each
    // (ReadTarget), and the flags share a word.
    private readonly HaClientOptionsExtension _extension;
    private IReadOnlyDictionary<string, object?>? _markedParameters;
    private QueryReadRoute? _markedRoute;
    private ReadTarget? _scope;
    private ConsistencyToken _token;
    private bool _wrote;
    private bool _tokenUnknown;

    public RoutedRelationalConnection(RelationalConnectionDependencies dependencies, NpgsqlDataSourceManager dataSourceManager, IDbContextOptions options)
        : base(dependencies, dataSourceManager, options)
        => _extension = options.FindExtension<HaClientOptionsExtension>()
            ?? throw new InvalidOperationException("HaClient.EntityFrameworkCore's services are registered without UseHaClient in the context's options.");

    public PostgresCluster Cluster => _extension.Cluster;

    /// <summary>The consistency every read of this context uses unless a query asks for more: set by
    /// <see cref="HaClientDbContextExtensions.ReadFrom"/>; <see langword="null"/> routes by what each command is.</summary>
    public ReadTarget? Scope
    {
        get => _scope;
        set => _scope = value;
    }

    /// <summary>The context's read-your-writes token: the latest of its writes' tokens and those it was given.</summary>
    public ConsistencyToken Token
    {
        get
        {
            return _extension.RequestTokens is { } request ? ConsistencyToken.Max(_token, request.GetPostgresToken(_extension.Cluster.Name)) : _token;
        }
    }

    /// <summary>Raises the context's token to <paramref name="token"/> (and the request's, under ASP.NET Core).</summary>
    public void Observe(ConsistencyToken token)
    {
        _token = ConsistencyToken.Max(_token, token);
        _extension.RequestTokens?.ObservePostgres(_extension.Cluster.Name, token);
    }

    /// <summary>host:port of the physical connection, open or closed (for HaClient's exceptions).</summary>
    public string Endpoint => DbConnection.DataSource is { Length: > 0 } source ? source.Replace("tcp://", string.Empty, StringComparison.Ordinal) : Cluster.Name;

    public override Task<bool> OpenAsync(CancellationToken cancellationToken, bool errorsExpected = false)
    {
        // Any open that no routed read asked for (a transaction, SaveChanges, raw SQL, migrations, an explicit
        // OpenConnection) takes the write route. On a connection already open the command runs where it is.
        if (DbConnection.State != ConnectionState.Open)
        {
            TakePendingRoute();
        }

        ClearNextRoute();
        return base.OpenAsync(cancellationToken, errorsExpected);
    }

    public override bool Open(bool errorsExpected = false)
    {
        // A synchronous open takes no routed read (and is refused: OpenDbConnection).
        ClearNextRoute();
        if (DbConnection.State != ConnectionState.Open)
        {
            TakePendingRoute();
        }

        return base.Open(errorsExpected);
    }

    /// <summary>Makes <paramref name="physical"/>, open, the context's connection.</summary>
    private void Use(NpgsqlConnection physical)
    {
        // EF Core resets the command timeout when the connection is replaced; the user's setting is kept. (Replacing
        // closes the previous physical connection, already closed and back in its pool.)
        var timeout = CommandTimeout;
        SetDbConnection(physical, contextOwnsConnection: true);
        CommandTimeout = timeout;
        _wrote = _openWrites;
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
            LogTokenUnknown(Dependencies.ConnectionLogger.Logger, Cluster.Name, e.GetType().Name);
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
        _scope = null;
        _markedParameters = null;
        _markedRoute = null;
    }

    [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "Cluster {Cluster}: the read-your-writes token after an EF Core write could not be read ({Error}); this context reads from the primary until its next write")]
    private static partial void LogTokenUnknown(ILogger logger, string cluster, string error);
}
