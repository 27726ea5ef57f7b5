using System.Diagnostics;
using System.Net;
using System.Text;

namespace HaClient.AspNetCore.Tests;

/// <summary>The real sample (samples/HaClient.Sample, built with the solution) run as its own process on a free
/// 127.0.0.1 port, with its own appsettings.json (the plain lab and Redis with Sentinels). Its own process, so its
/// /metrics holds only its own series: the failover counter starts at 0 whatever other tests did.</summary>
public sealed class SampleProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _log = new();

    private readonly TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private SampleProcess(Process process) => _process = process;

    public Uri BaseAddress => Client.BaseAddress!;

    public HttpClient Client { get; } = new() { Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>What the sample wrote to stdout/stderr so far (for a failing test's output).</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>Starts the sample and waits (at most <paramref name="readyWithin"/>) until /health/ready answers 200.</summary>
    public static async Task<SampleProcess> StartAsync(TimeSpan readyWithin)
    {
        var project = Path.Combine(Lab.RepoRoot, "samples", "HaClient.Sample");
        // The sample is built in the test assembly's configuration (bin/<Configuration>/net10.0).
        var configuration = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)).Parent!.Name;
        var dll = Path.Combine(project, "bin", configuration, "net10.0", "HaClient.Sample.dll");
        if (!File.Exists(dll))
        {
            throw new FileNotFoundException($"build the solution first: {dll} is missing", dll);
        }

        // Port 0: Kestrel picks a free one and the sample logs it ("Now listening on: ...").
        var psi = new ProcessStartInfo("dotnet", $"\"{dll}\" --urls http://127.0.0.1:0")
        {
            // The content root (appsettings.json, wwwroot) is the project folder.
            WorkingDirectory = project,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        var process = Process.Start(psi)!;
        var sample = new SampleProcess(process);
        process.OutputDataReceived += (_, e) => sample.Append(e.Data);
        process.ErrorDataReceived += (_, e) => sample.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        try
        {
            sample.Client.BaseAddress = await sample._listening.Task.WaitAsync(readyWithin);
        }
        catch (TimeoutException)
        {
            var log = sample.Log;
            await sample.DisposeAsync();
            throw new InvalidOperationException($"the sample did not listen within {readyWithin}:\n{log}");
        }

        var ready = await Lab.EventuallyAsync(async () =>
        {
            if (process.HasExited)
            {
                return true;
            }

            try
            {
                return (await sample.Client.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, readyWithin, pollMs: 200);
        if (!ready || process.HasExited)
        {
            var log = sample.Log;
            await sample.DisposeAsync();
            throw new InvalidOperationException($"the sample was not ready within {readyWithin} (exited: {process.HasExited}):\n{log}");
        }

        return sample;
    }

    /// <summary>GET /metrics: Prometheus text.</summary>
    public Task<string> ScrapeAsync() => Client.GetStringAsync("/metrics");

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await _process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }

        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_log)
        {
            _log.AppendLine(line);
        }

        const string Listening = "Now listening on: ";
        if (line.IndexOf(Listening, StringComparison.Ordinal) is var at and >= 0)
        {
            _listening.TrySetResult(new Uri(line[(at + Listening.Length)..].Trim()));
        }
    }
}
