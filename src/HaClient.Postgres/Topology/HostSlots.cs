using HaClient.Resilience;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace HaClient.Postgres;

/// <summary>Builds every host's slot: its request pool (with HaClient's defaults for what the connection string leaves
/// out, and the pooler's needs when it goes through one), its unpooled monitor sources and its breaker.</summary>
internal static class HostSlots
{
    /// <summary>The longest a new primary's connection ramp stays armed, however few opens pass.</summary>
    private static readonly TimeSpan NewPrimaryRampLimit = TimeSpan.FromSeconds(5);

    /// <summary>Idle seconds before the kernel's first keepalive probe on a request connection (when the connection string
    /// sets no keepalive of its own).</summary>
    internal const int KeepAliveSeconds = 10;

    /// <summary>Seconds between keepalive probes.</summary>
    internal const int KeepAliveIntervalSeconds = 2;

    public static HostSlot[] Create(string name, ResolvedPostgresSettings settings, PostgresClusterOptions options, ILoggerFactory loggerFactory, TimeProvider timeProvider)
    {
        var opSeconds = Math.Max(1, (int)Math.Ceiling(options.Resilience.OperationTimeout.TotalSeconds));
        var probeSeconds = Math.Max(1, (int)Math.Ceiling(options.ProbeTimeout.TotalSeconds));
        var slots = new HostSlot[settings.Hosts.Count];
        var logger = loggerFactory.CreateLogger("HaClient.Postgres");
        if (settings.Hosts.Any(h => h.IsPooled))
        {
            PooledSettings.WarnOfConflicts(settings, name, logger);
        }

        for (var i = 0; i < slots.Length; i++)
        {
            var address = settings.Hosts[i];
            var endpoint = address.Server;
            var user = RequestConnectionString(settings, address.Traffic, opSeconds);
            if (address.IsPooled)
            {
                PooledSettings.Apply(settings, user);
            }

            var probe = new NpgsqlConnectionStringBuilder(user.ConnectionString)
            {
                Host = endpoint.Host,
                Port = endpoint.Port,
                Pooling = false,
                Timeout = probeSeconds,
                CommandTimeout = probeSeconds,
                CancellationTimeout = -1,
                ApplicationName = "haclient-monitor",
                Multiplexing = false,
            };
            var poolBuilder = new NpgsqlDataSourceBuilder(user.ConnectionString) { Name = $"{name}/{address}" }.UseLoggerFactory(loggerFactory);
            var probeBuilder = new NpgsqlDataSourceBuilder(probe.ConnectionString) { Name = $"{name}/{endpoint}/monitor" };

            // The user's hook (type plugins, TLS certificates, a password provider) applies to the monitor's source too:
            // it must connect the way requests do.
            options.ConfigureDataSourceBuilder?.Invoke(poolBuilder);
            options.ConfigureDataSourceBuilder?.Invoke(probeBuilder);
            NpgsqlDataSource? viaProbe = null;
            if (address.Via is { } via && via != endpoint)
            {
                // The monitor also checks the path requests take: a pooler that is gone, or that accepts but cannot
                // reach its server, takes its host out of routing although the server itself answers.
                var viaBuilder = new NpgsqlDataSourceBuilder(new NpgsqlConnectionStringBuilder(probe.ConnectionString) { Host = via.Host, Port = via.Port }.ConnectionString)
                {
                    Name = $"{name}/{address}/monitor-via",
                };
                options.ConfigureDataSourceBuilder?.Invoke(viaBuilder);
                viaProbe = viaBuilder.Build();
            }

            var circuit = new EndpointCircuit(name, address.ToString(), options.Resilience, PostgresFailureClassifier.Classify, timeProvider);
            var ramp = new ConnectionRamp(options.NewPrimaryConcurrentOpens, settings.MaxConnectionsPerHost, NewPrimaryRampLimit, timeProvider);
            slots[i] = new HostSlot(i, endpoint, poolBuilder.Build(), probeBuilder.Build(), circuit, ramp, address.Via, viaProbe)
            {
                Zone = settings.Zones.ZoneOf(endpoint),
                ZoneRank = settings.Zones.RankOf(endpoint),
                IsLocal = settings.Zones.IsLocal(endpoint),
            };
        }

        return slots;
    }

    /// <summary>One host's request pool settings: the user's connection string with HaClient's defaults for what it
    /// leaves out.</summary>
    private static NpgsqlConnectionStringBuilder RequestConnectionString(ResolvedPostgresSettings settings, HostEndpoint endpoint, int opSeconds)
    {
        var user = new NpgsqlConnectionStringBuilder(settings.Template.ConnectionString)
        {
            Host = endpoint.Host,
            Port = endpoint.Port,
            TargetSessionAttributes = null,
        };
        if (!settings.IsSet("Timeout"))
        {
            user.Timeout = opSeconds;
        }

        if (!settings.IsSet("Command Timeout"))
        {
            // No Npgsql command timeout: HaClient's budget bounds every call, releases the caller at the deadline and
            // cancels the abandoned call off the thread pool. Npgsql's own timeout path sends its cancel request
            // synchronously on the thread-pool thread that awaited the read (a connect, an SSL request and a read that
            // wait up to Timeout against a frozen server), and it is the path that fires when Npgsql skipped HaClient's
            // cancellation (a pooled connection still reading its reset's reply). A burst of them is the whole pool:
            // 30 s into a freeze the drill's process stalled for 1.5-2.5 s (docs/lab-report.md).
            user.CommandTimeout = 0;
        }

        if (!settings.IsSet("Tcp Keepalive Time") && !settings.IsSet("Tcp Keepalive Interval") && !settings.IsSet("Tcp Keepalive"))
        {
            // Without a command timeout, an abandoned call on a host that vanished without a reset (a partition, a lost
            // machine) would wait forever on its socket: the kernel's keepalive ends it (an I/O error: Npgsql breaks the
            // connection without a cancel request) within about 10 + 9 x 2 s.
            user.TcpKeepAliveTime = KeepAliveSeconds;
            user.TcpKeepAliveInterval = KeepAliveIntervalSeconds;
        }

        if (!settings.IsSet("GSS Encryption Mode"))
        {
            // No GSS encryption attempt unless asked for: with Npgsql's default (Prefer) every new physical connection
            // first asks the system's Kerberos library for a context, a native call that blocks its thread (about 5 s in
            // the lab's network namespaces, where the library's DNS lookups time out). It runs before the open returns its
            // task, so the budget cannot release that caller, and on 2 cores it holds a pool thread: the disk-full drill's
            // writes of 5.0-5.1 s (docs/lab-report.md). Kerberos (GSSAPI) authentication still works without it; a
            // server that requires GSS encryption needs "GSS Encryption Mode=Prefer" or "Require" in the string.
            user.GssEncryptionMode = GssEncryptionMode.Disable;
        }

        // Admission: never open more per host than the cap; callers beyond it wait for a connection within their
        // deadline (Npgsql's pool queue) instead of meeting the server's max_connections.
        user.MaxPoolSize = settings.MaxConnectionsPerHost;
        if (user.MinPoolSize > user.MaxPoolSize)
        {
            user.MinPoolSize = user.MaxPoolSize;
        }

        if (!settings.IsSet("Cancellation Timeout"))
        {
            // Do not wait for a cancel request's answer: the server it goes to may be frozen.
            user.CancellationTimeout = -1;
        }

        return user;
    }
}
