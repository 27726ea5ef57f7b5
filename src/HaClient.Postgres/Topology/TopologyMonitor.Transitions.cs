using HaClient.Telemetry;

namespace HaClient.Postgres;

/// <summary>What a change of a host's role or of the chosen primary does (under the monitor's lock): logs, pools
/// cleared, calls in flight released, breakers reset, the ramp armed, the failover recorded.</summary>
internal sealed partial class TopologyMonitor
{
    private void OnRoleChanged(HostSlot slot, PostgresRole from, PostgresRole to)
    {
        LogRoleChanged(_logger, _cluster, slot.Name, from, to);
        HaClientTelemetry.RoleChanges.Add(1, new("haclient.cluster", _cluster), new("haclient.endpoint", slot.Name), new("haclient.role", RoleName(to)));
        if (from == PostgresRole.Primary || to == PostgresRole.Down)
        {
            // Pooled connections to a demoted or dead host must not be handed out again.
            slot.Pool.Clear();
        }

        if (to == PostgresRole.Down && slot.Circuit.AbandonInFlight() is var abandoned and > 0)
        {
            // Its callers would otherwise wait out their whole budgets on a host that no longer answers.
            LogAbandoned(_logger, _cluster, slot.Name, abandoned);
        }

        if (from == PostgresRole.Down && to is PostgresRole.Primary or PostgresRole.Replica)
        {
            _ = slot.Circuit.ResetAsync();
        }
    }

    private void OnPrimaryChanged(int from, int to)
    {
        if (to < 0)
        {
            _primaryLostAt = _time.GetTimestamp();
            LogPrimaryLost(_logger, _cluster, from >= 0 ? _slots[from].Name : "none");
            return;
        }

        _slots[to].Ramp.Arm();

        // Straight from one primary to another (a split brain resolved by timeline) leaves no time without a primary.
        var took = from >= 0 ? TimeSpan.Zero : _time.GetElapsedTime(_primaryLostAt);
        LogPrimaryChosen(_logger, _cluster, _slots[to].Name, _slots[to].State.Timeline);

        // A failover is another host adopted after a primary was known: not the first primary found at start-up (the
        // hosts answer one by one, so the first one may be found after a replica), nor the same primary coming back.
        if (_lastPrimary >= 0 && _lastPrimary != to)
        {
            HaClientTelemetry.RecordFailover(_cluster, _slots[to].Name, took);
        }

        _lastPrimary = to;
    }

    internal static string RoleName(PostgresRole role) => role switch
    {
        PostgresRole.Primary => "primary",
        PostgresRole.Replica => "replica",
        PostgresRole.Down => "down",
        _ => "unknown",
    };
}
