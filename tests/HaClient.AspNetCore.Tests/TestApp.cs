using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace HaClient.AspNetCore.Tests;

/// <summary>A real Kestrel host on a free 127.0.0.1 port, configured from an in-memory <c>HighAvailability</c> section.</summary>
public sealed class TestApp : IAsyncDisposable
{
    private TestApp(WebApplication app, Uri baseAddress)
    {
        App = app;
        BaseAddress = baseAddress;
        // No cookie container: tests send cookies (the read-your-writes one) explicitly.
        Client = new HttpClient(new SocketsHttpHandler { UseCookies = false }) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    public WebApplication App { get; }

    public Uri BaseAddress { get; }

    public HttpClient Client { get; }

    public static WebApplicationBuilder CreateBuilder(IDictionary<string, string?> settings)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            EnvironmentName = "Development",
            ContentRootPath = AppContext.BaseDirectory,
            WebRootPath = Path.Combine(AppContext.BaseDirectory, "wwwroot"),
        });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole().SetMinimumLevel(LogLevel.Warning);
        return builder;
    }

    /// <summary>Builds, lets <paramref name="configure"/> map endpoints, starts, and returns the bound address.</summary>
    public static async Task<TestApp> StartAsync(WebApplicationBuilder builder, Action<WebApplication>? configure = null)
    {
        var app = builder.Build();
        app.UseHighAvailability();
        app.MapHighAvailabilityHealth();
        configure?.Invoke(app);
        await app.StartAsync();
        var address = app.Urls.Single();
        return new TestApp(app, new Uri(address));
    }

    public static Task<TestApp> StartAsync(IDictionary<string, string?> settings, Action<IServiceCollection>? services = null, Action<WebApplication>? configure = null)
    {
        var builder = CreateBuilder(settings);
        builder.Services.AddHighAvailability(builder.Configuration);
        services?.Invoke(builder.Services);
        return StartAsync(builder, configure);
    }

    /// <summary>A loopback port nothing listens on.</summary>
    public static int ClosedPort() => ClosedPorts(1)[0];

    /// <summary>Distinct loopback ports nothing listens on: all are held at once while they are chosen (two separate
    /// picks can return the same ephemeral port, which the validator then rejects as a duplicate host).</summary>
    public static int[] ClosedPorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToArray();
        try
        {
            foreach (var l in listeners)
            {
                l.Start();
            }

            return listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        }
        finally
        {
            foreach (var l in listeners)
            {
                l.Stop();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
