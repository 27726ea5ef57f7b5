using HaClient.Postgres;
using Microsoft.Extensions.Options;
using Xunit;

namespace HaClient.Postgres.Tests.Unit;

/// <summary>A secret fed through every validation path and every public surface of a cluster never comes back out.</summary>
public class SecretsTests
{
    private const string Secret = "Sup3r-s3cret-pw";

    private static string[] Errors(PostgresClusterOptions o)
    {
        var result = new PostgresClusterOptionsValidator().Validate(null, o);
        return result.Failed ? result.Failures.ToArray() : [];
    }

    public static TheoryData<string, string[], string[]> BadSettings => new()
    {
        // A whole connection string where a host belongs (the case).
        { "Username=u;Database=d", [$"Host=db1:5432;Username=u;Password={Secret}"], [] },
        { "Username=u;Database=d", ["db1:5432", $"Password={Secret}"], [] },
        { "Username=u;Database=d", [$"{Secret}@db1:5432"], [] },
        // Malformed connection strings that carry the password.
        { $"Host=db1;Password={Secret};Port=notaport", [], [] },
        { $"Host=db1;Password={Secret};Pooling=perhaps", [], [] },
        { $"Host=db1;Pasword={Secret}", [], [] },
        { $"Host=db1:notaport;Password={Secret}", [], [] },
        // Patroni addresses with credentials in them.
        { $"Host=db1;Password={Secret}", [], [$"http://admin:{Secret}@db 1:8008"] },
        { $"Host=db1;Password={Secret}", [], [$"ftp://admin:{Secret}@db1:8008"] },
    };

    [Theory]
    [MemberData(nameof(BadSettings))]
    public void No_validation_error_quotes_a_secret(string connectionString, string[] hosts, string[] patroni)
    {
        var o = new PostgresClusterOptions { ConnectionString = connectionString, Hosts = hosts.ToList(), PatroniUrls = patroni.ToList() };
        var errors = Errors(o);
        Assert.NotEmpty(errors);
        Assert.All(errors, e => Assert.DoesNotContain(Secret, e, StringComparison.Ordinal));
        var thrown = Assert.Throws<OptionsValidationException>(() => PostgresCluster.Create(o));
        Assert.DoesNotContain(Secret, thrown.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_cluster_hands_out_no_secret()
    {
        await using var cluster = PostgresCluster.Create(new PostgresClusterOptions
        {
            ConnectionString = $"Host=127.0.0.1:1;Username=u;Password={Secret};Database=d",
            PatroniUrls = [$"http://admin:{Secret}@127.0.0.1:1/"],
            Resilience = { OperationTimeout = TimeSpan.FromMilliseconds(300) },
        });
        var options = cluster.Options;
        Assert.DoesNotContain(Secret, options.ConnectionString, StringComparison.Ordinal);
        Assert.Contains("Username=u", options.ConnectionString, StringComparison.Ordinal);
        Assert.All(options.PatroniUrls, u => Assert.DoesNotContain(Secret, u, StringComparison.Ordinal));
        Assert.Equal("http://127.0.0.1:1/", Assert.Single(options.PatroniUrls));
        Assert.DoesNotContain(Secret, System.Text.Json.JsonSerializer.Serialize(options), StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, cluster.ToString()!, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, cluster.Topology.ToString()!, StringComparison.Ordinal);
        Assert.All(cluster.Topology.Hosts, h => Assert.DoesNotContain(Secret, h.ToString(), StringComparison.Ordinal));

        var e = await Assert.ThrowsAnyAsync<HaClientException>(() => cluster.ExecuteWriteAsync((c, ct) => Task.FromResult(1)));
        Assert.DoesNotContain(Secret, e.ToString(), StringComparison.Ordinal);
        Assert.All(cluster.Topology.Hosts, h => Assert.DoesNotContain(Secret, h.Error ?? string.Empty, StringComparison.Ordinal));
    }
}
