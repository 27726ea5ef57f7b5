namespace HaClient.Failover;

/// <summary>How far one write attempt got: whether anything may have reached the server. Before that a failed write is
/// safe to re-route; after it the outcome is unknown.</summary>
public sealed class WriteProgress
{
    private volatile bool _sent;

    /// <summary>Whether the write may have reached the server.</summary>
    public bool Sent => _sent;

    /// <summary>Marks the write as sent. Call it just before the first byte of the work may leave.</summary>
    public void MarkSent() => _sent = true;
}
