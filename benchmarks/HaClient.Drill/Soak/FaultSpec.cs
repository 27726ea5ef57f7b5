namespace HaClient.Drill.Soak;

/// <summary>What a fault hits: the row's workload figures (window, losses) are read from that side.</summary>
public enum FaultTarget
{
    /// <summary>Either side (a user's command): both sides' figures count.</summary>
    Any,
    Postgres,
    Redis,
}

/// <summary>What the soak waits for after the fault command before it runs the heal command.</summary>
public enum FaultHold
{
    /// <summary>At least <see cref="SoakArgs.Settle"/> (a user's command: the failover may start after it returns).</summary>
    Settle,

    /// <summary>The observer sees a PostgreSQL node other than the old primary accept writes (bounded).</summary>
    NewPgPrimary,

    /// <summary>The observer sees a Redis node other than the old master answer <c>master</c> (bounded).</summary>
    NewRedisMaster,

    /// <summary><see cref="FaultSpec.HoldSeconds"/> seconds.</summary>
    Seconds,

    /// <summary>Nothing: the command itself waits for the change (a switchover).</summary>
    None,
}

/// <summary>
/// One named fault: a shell command that causes it, what to wait for, a command that undoes what the cluster does not
/// heal by itself, and a "healed" check polled (bounded) before the next fault. Commands run with <c>bash -c</c> in the
/// repository root (soak) or the current folder (a user's run).
/// </summary>
/// <param name="Name">The fault's name in the table and the report.</param>
/// <param name="Command">The shell command that causes the fault.</param>
/// <param name="Target">Which side it hits.</param>
/// <param name="Hold">What to wait for before healing.</param>
/// <param name="HealCommand">Run after the hold (null: nothing to undo).</param>
/// <param name="HealedCheck">A shell command that exits 0 when the cluster is healed (null: the built-in check, one
/// writable primary seen by the observer on every configured side and every node answering).</param>
/// <param name="HoldSeconds">For <see cref="FaultHold.Seconds"/>.</param>
/// <param name="LeaseBugPossible">PostgreSQL writes lost in this fault's window are classified as the Patroni 3.0.2
/// lease bug when the frozen old leader took the leader key back (see docs/lab-report.md) and reported apart.</param>
public sealed record FaultSpec(
    string Name,
    string Command,
    FaultTarget Target = FaultTarget.Any,
    FaultHold Hold = FaultHold.Settle,
    string? HealCommand = null,
    string? HealedCheck = null,
    double HoldSeconds = 0,
    bool LeaseBugPossible = false)
{
    /// <summary>Parses <c>--fault "name=shell command"</c>.</summary>
    public static FaultSpec ParseUserFault(string value)
    {
        var (name, command) = SplitNameEquals(value, "--fault");
        return new FaultSpec(name, command);
    }

    /// <summary>Splits <c>name=value</c>; the name is letters, digits, '-', '_' or '.'.</summary>
    public static (string Name, string Value) SplitNameEquals(string value, string argument)
    {
        var i = value.IndexOf('=', StringComparison.Ordinal);
        if (i <= 0 || i == value.Length - 1)
        {
            throw new ArgumentException($"{argument} '{value}': give name=shell command, e.g. {argument} \"switchover=patronictl switchover --force\"");
        }

        var name = value[..i].Trim();
        if (name.Length == 0 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
        {
            throw new ArgumentException($"{argument}: the name '{name}' may hold only letters, digits, '-', '_' and '.'");
        }

        return (name, value[(i + 1)..].Trim());
    }
}
