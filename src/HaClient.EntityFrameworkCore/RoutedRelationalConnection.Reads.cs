using System.Data;
using HaClient.Postgres;
using Npgsql;

namespace HaClient.EntityFrameworkCore;

/// <summary>The read-routing half of the connection: the route the next open takes (set by the command about to run),
/// the open on that route, and what the execution strategy or the command needs to retry a failed read on another
/// node.</summary>
internal sealed partial class RoutedRelationalConnection
{
    // The route the next open takes (set by SetNextRoute, taken by OpenAsync) and the one the open connection took. A
    // read's consistency is needed only until its open has routed, so the two share one field.
    private ReadTarget? _readTarget;
    private int _openHost = -1;
    private int _excludeHost = -1;
    private bool _pendingRead;
    private bool _pendingWrites;
    private bool _openForRead;
    private bool _openWrites;
    private bool _retryableRead;

    /// <summary>Called by the command just before EF Core opens the connection for it: the route that open takes.</summary>
    public void SetNextRoute(CommandRoute route)
    {
        _pendingRead = route.IsRead;
        _pendingWrites = !route.IsRead && route.Writes;
        if (route.IsRead)
        {
            _readTarget = route.Target;
        }

        _retryableRead = route.IsRead && DbConnection.State == ConnectionState.Closed;
        if (!route.IsRead && DbConnection.State != ConnectionState.Closed)
        {
            if (_openForRead)
            {
                // Only while a reader on a replica is being enumerated: PostgreSQL would refuse the write as read-only.
                throw new InvalidOperationException("A write was started while this DbContext's connection is open for a read (a query still being enumerated); finish the query first.");
            }

            _wrote = true;
        }
    }

    /// <summary>Called by the command when it has returned (its open, if any, took the route).</summary>
    public void ClearNextRoute()
    {
        _pendingRead = false;
        _pendingWrites = false;
    }

    /// <summary>The open about to start takes the pending route (the write path when no command set one).</summary>
    private void TakePendingRoute()
    {
        _openForRead = _pendingRead;
        _openWrites = _pendingWrites;
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

    /// <summary>The index of the host the connection was last opened on for a read; -1 for a write or before any.</summary>
    public int OpenHost => _openHost;

    /// <summary>Called by the command before it retries a read that failed on <paramref name="host"/>: the next open
    /// routes to another eligible node (the router's own exclusion, as the core API's retry uses it).</summary>
    public void ExcludeOnNextOpen(int host) => _excludeHost = host;

    // Not an async method: when the cluster's open completes at once (an idle pooled connection), no state machine is
    // allocated on top of the core path's own.
    protected override Task OpenDbConnectionAsync(bool errorsExpected, CancellationToken cancellationToken)
    {
        var cluster = Cluster;
        if (!_openForRead)
        {
            _openHost = -1;
            _excludeHost = -1; // an exclusion is for the retried read's own open only
            var write = cluster.OpenWriteConnectionAsync(cancellationToken);
            if (!write.IsCompletedSuccessfully)
            {
                return AwaitWriteOpenAsync(write);
            }

            Use(write.Result);
            return Task.CompletedTask;
        }

        var exclude = _excludeHost;
        _excludeHost = -1;
        _openHost = -1;
        var routed = cluster.RouteReadAsync(Effective((_readTarget ?? ReadTarget.Primary).Consistency), exclude, cancellationToken);
        if (!routed.IsCompletedSuccessfully)
        {
            return AwaitReadOpenAsync(routed, cancellationToken);
        }

        var host = routed.Result;
        _openHost = host.Index;
        var open = cluster.OpenRouteAsync(host, cancellationToken);
        if (!open.IsCompletedSuccessfully)
        {
            return AwaitOpenAsync(open);
        }

        Use(open.Result);
        return Task.CompletedTask;
    }

    private async Task AwaitWriteOpenAsync(ValueTask<NpgsqlConnection> open) => Use(await open.ConfigureAwait(false));

    private async Task AwaitReadOpenAsync(ValueTask<ReadRoute> routed, CancellationToken cancellationToken)
    {
        var host = await routed.ConfigureAwait(false);
        _openHost = host.Index;
        Use(await Cluster.OpenRouteAsync(host, cancellationToken).ConfigureAwait(false));
    }

    private async Task AwaitOpenAsync(Task<NpgsqlConnection> open) => Use(await open.ConfigureAwait(false));
}
