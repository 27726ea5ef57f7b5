using Npgsql;

namespace HaClient.Drill.Soak;

/// <summary>Asks every PostgreSQL host <c>pg_is_in_recovery()</c> every 5 ms over its own connection (blocking calls on
/// a dedicated thread per host), and every 2 s how many of the workload's sessions it holds (pg_stat_activity by
/// application_name).</summary>
internal sealed class PgObserver(PgTarget target) : NodeObserver(target.Hosts.Select(h => h.ToString()).ToList(), "pg")
{
    protected override void Loop(int node)
    {
        var cs = target.ForHost(node, "haclient-drill-observer");
        NpgsqlConnection? c = null;
        double lastCount = 0;
        while (!Stopping)
        {
            try
            {
                if (c is null)
                {
                    c = new NpgsqlConnection(cs);
                    c.Open();
                    using var id = new NpgsqlCommand("SELECT coalesce(host(inet_server_addr()), 'local') || ':' || inet_server_port()", c);
                    Identify(node, (string)id.ExecuteScalar()!);
                }

                using (var cmd = new NpgsqlCommand("SELECT pg_is_in_recovery()", c) { CommandTimeout = 1 })
                {
                    Sample(node, primary: !(bool)cmd.ExecuteScalar()!);
                }

                if (Lab.NowUnixMs() - lastCount > 2000)
                {
                    using var count = new NpgsqlCommand("SELECT count(*)::int FROM pg_stat_activity WHERE application_name = @app", c) { CommandTimeout = 1 };
                    count.Parameters.AddWithValue("app", PgTarget.ApplicationName);
                    CountConnections(node, (int)count.ExecuteScalar()!);
                    lastCount = Lab.NowUnixMs();
                }
            }
            catch (Exception)
            {
                Unreachable(node);
                Drop(ref c);
                Pause(50);
            }

            Pause();
        }

        Drop(ref c);
    }

    private static void Drop(ref NpgsqlConnection? c)
    {
        var dead = c;
        c = null;
        if (dead is null) return;
        try
        {
            dead.Dispose();
        }
        catch (Exception)
        {
        }
    }
}
