using System.Net;
using HaClient.AspNetCore;
using HaClient.Postgres;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using Xunit;

namespace HaClient.EntityFrameworkCore.Tests;

/// <summary>The read-your-writes middleware carrying an EF Core context's writes to the client's next request.</summary>
[Collection("ef-lab")]
[Trait("Category", "Lab")]
public sealed class AspNetCoreLabTests
{
    [Fact]
    public async Task The_next_request_with_the_token_reads_the_SaveChanges_write()
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Development", ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["HighAvailability:Postgres:main:ConnectionString"] = $"{Lab.Credentials};Application Name=haclient-ef-aspnet",
            ["HighAvailability:Postgres:main:Hosts:0"] = "127.0.0.1:15432",
            ["HighAvailability:Postgres:main:Hosts:1"] = "127.0.0.1:15433",
            ["HighAvailability:Postgres:main:Hosts:2"] = "127.0.0.1:15434",
            ["HighAvailability:Postgres:main:ProbeInterval"] = "00:00:00.200",
            // A long bound: paused replicas keep serving bounded reads, so only the token keeps a read fresh.
            ["HighAvailability:Postgres:main:ReplicaLag:MaxLagTime"] = "00:01:00",
        });
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddHighAvailability(builder.Configuration);
        builder.Services.AddDbContext<TestDb>((services, options) => options.UseHaClient(services, "main")
            .ConfigureWarnings(w => w.Ignore(RelationalEventId.PendingModelChangesWarning)));
        await using var app = builder.Build();
        app.UseHighAvailability();
        app.MapPost("/items", async (string name, TestDb db, CancellationToken ct) =>
        {
            var item = new Item { Name = name };
            db.Items.Add(item);
            await db.SaveChangesAsync(ct);
            return item.Id;
        });
        app.MapGet("/items/{id:long}", async (long id, TestDb db, HttpResponse response, CancellationToken ct) =>
        {
            var item = await db.Items.AsNoTracking().FirstOrDefaultAsync(i => i.Id == id, ct);
            // The host of the connection the query ran on (closed now; its data source names the host).
            response.Headers["X-Served-By"] = new NpgsqlConnectionStringBuilder(db.Database.GetDbConnection().ConnectionString).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return item is null ? Results.NotFound() : Results.Ok(item.Name);
        });
        await app.StartAsync();
        using var client = new HttpClient(new SocketsHttpHandler { UseCookies = false }) { BaseAddress = new Uri(app.Urls.Single()), Timeout = TimeSpan.FromSeconds(30) };
        var cluster = app.Services.GetRequiredKeyedService<PostgresCluster>("main");
        await cluster.WaitForTopologyAsync(TimeSpan.FromSeconds(10));
        Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(cluster.Topology.Hosts.Count(h => h.Role == PostgresRole.Replica) == 2), TimeSpan.FromSeconds(15)), "replicas not found");
        await EfLab.MigrateAsync(cluster);
        try
        {
            await Lab.RunAsync("pg pause-replay n2");
            await Lab.RunAsync("pg pause-replay n3");
            var write = await client.PostAsync("/items?name=ef-ryw", null);
            Assert.Equal(HttpStatusCode.OK, write.StatusCode);
            var id = await write.Content.ReadAsStringAsync();
            var token = write.Headers.GetValues("X-HaClient-Consistency").Single();
            Assert.True(ConsistencyToken.TryParse(token, out _), token);

            // Without the token the read goes to a paused replica, which has not seen the write.
            var stale = await client.GetAsync($"/items/{id}");
            Assert.NotEqual("15432", stale.Headers.GetValues("X-Served-By").Single());
            Assert.Equal(HttpStatusCode.NotFound, stale.StatusCode);

            // With it, the next request's context reads the write (from the primary: the replicas are behind).
            using var next = new HttpRequestMessage(HttpMethod.Get, $"/items/{id}");
            next.Headers.Add("X-HaClient-Consistency", token);
            var fresh = await client.SendAsync(next);
            Assert.Equal(HttpStatusCode.OK, fresh.StatusCode);
            Assert.Equal("\"ef-ryw\"", await fresh.Content.ReadAsStringAsync());
            Assert.Equal("15432", fresh.Headers.GetValues("X-Served-By").Single());
        }
        finally
        {
            await Lab.RunAsync("pg up");
            await app.StopAsync();
        }
    }
}
