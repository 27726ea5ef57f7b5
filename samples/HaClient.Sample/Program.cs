using HaClient.AspNetCore;
using HaClient.EntityFrameworkCore;
using HaClient.Sample;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

// HaClient sample: items on a PostgreSQL cluster (writes on the primary, reads on replicas with read-your-writes), a
// cached read on Redis, a session-backed visit counter stored through HaClient's Redis session store, health endpoints,
// Prometheus metrics and a live topology page. Configured for the local lab (eng/run-sample.sh); binds 127.0.0.1 only.
var builder = WebApplication.CreateBuilder(args);

builder.Services.AddHighAvailability(builder.Configuration);
// EF Core on the same cluster: one DbContext, writes on the primary, no-tracking reads on replicas, the request's token.
builder.Services.AddDbContext<SampleDb>((services, options) => options.UseHaClient(services, "main"));
builder.Services.AddProblemDetails();
builder.Services.AddSession(o =>
{
    o.Cookie.Name = "haclient-sample-session";
    o.Cookie.HttpOnly = true;
    o.Cookie.IsEssential = true;
    o.IdleTimeout = TimeSpan.FromMinutes(20);
});
builder.Services.AddOpenTelemetry()
    // HaClient's instruments, Npgsql's (db.client.*: pools per host, command durations) and ASP.NET Core's built-in HTTP
    // server metrics (http.server.request.duration, http.server.active_requests; kestrel.*).
    .WithMetrics(m => m.AddHighAvailabilityInstrumentation().AddNpgsqlInstrumentation()
        .AddMeter("Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel")
        .AddPrometheusExporter())
    .WithTracing(t => t.AddHighAvailabilityInstrumentation().AddNpgsql());
builder.Services.AddHostedService<ItemsSchema>();
builder.Services.TryAddSingleton(TimeProvider.System);
builder.Services.AddSingleton<TopologyHistory>();
builder.Services.AddHostedService(sp => sp.GetRequiredService<TopologyHistory>());

var app = builder.Build();
app.UseHighAvailability();
app.UseStaticFiles();
app.UseSession();

app.MapHighAvailabilityHealth();
app.MapPrometheusScrapingEndpoint();
app.MapItems();
app.MapEfItems();
app.MapCachedGreeting();
app.MapVisits();
app.MapGet("/topology/history", (TopologyHistory history) => Results.Ok(history.Snapshot()));
app.MapGet("/", () => Results.Redirect("/topology.html"));

app.Run();
