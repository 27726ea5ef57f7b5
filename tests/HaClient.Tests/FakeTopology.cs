using HaClient.Failover;

namespace HaClient.Tests.Unit;

/// <summary>An endpoint of the fake topology.</summary>
public sealed record Node(string Name);

/// <summary>A topology the tests script: who is writer and reader, and what the engine reported to it.</summary>
internal sealed class FakeTopology : IFailoverTopology<Node, string>
{
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Node? Writer { get; set; }

    public Node[] Readers { get; set; } = [];

    public Action<Node>? OnNotPrimary { get; set; }

    public List<string> NotPrimary { get; } = [];

    public List<string> EndpointFailures { get; } = [];

    public int ProbeRequests { get; private set; }

    public Task Changed => _changed.Task;

    public void Change() => Interlocked.Exchange(ref _changed, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    public Node? SelectWriter() => Writer;

    public Node? SelectReader(string intent, Node? exclude) => Readers.FirstOrDefault(n => n != exclude);

    public bool IsPrimary(Node endpoint) => endpoint == Writer;

    public string NameOf(Node endpoint) => endpoint.Name;

    public void RequestProbe() => ProbeRequests++;

    public void ReportNotPrimary(Node endpoint)
    {
        NotPrimary.Add(endpoint.Name);
        OnNotPrimary?.Invoke(endpoint);
        Change();
    }

    public Action<Node>? OnEndpointFailure { get; set; }

    public void ReportEndpointFailure(Node endpoint, Exception failure)
    {
        EndpointFailures.Add(endpoint.Name);
        OnEndpointFailure?.Invoke(endpoint);
    }

    public bool ProvesNotSent(Exception failure) => false;

    /// <summary>Which nodes are in the local zone (none set: the store has no local zone).</summary>
    public Func<Node, bool?> Local { get; set; } = static _ => null;

    public bool? IsInLocalZone(Node endpoint) => Local(endpoint);
}
