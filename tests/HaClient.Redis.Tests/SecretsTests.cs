using HaClient.Redis;
using Microsoft.Extensions.Options;

namespace HaClient.Redis.Tests;

/// <summary>A password fed through every validation path and every public surface of a deployment never comes back out.</summary>
public class SecretsTests
{
    private const string Secret = "Sup3r-s3cret-redis-pw";

    public static TheoryData<string[], string[]> BadAddresses => new()
    {
        { [$"127.0.0.1:26379,password={Secret}"], [] },
        { [$"{Secret}@127.0.0.1:26379"], [] },
        { [], [$"127.0.0.1:6379,password={Secret}"] },
        { [], [$"redis://default:{Secret}@127.0.0.1:6379"] },
    };

    [Theory]
    [MemberData(nameof(BadAddresses))]
    public void No_validation_error_quotes_a_secret(string[] sentinels, string[] endpoints)
    {
        var o = new RedisOptions { Sentinels = sentinels.ToList(), Endpoints = endpoints.ToList(), ServiceName = sentinels.Length > 0 ? "haclient" : null, Password = Secret };
        var result = new RedisOptionsValidator().Validate(null, o);
        Assert.True(result.Failed);
        Assert.All(result.Failures!, f => Assert.DoesNotContain(Secret, f, StringComparison.Ordinal));
        var thrown = Assert.Throws<OptionsValidationException>(() => RedisDeployment.Create(o));
        Assert.DoesNotContain(Secret, thrown.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_deployment_hands_out_no_secret()
    {
        await using var deployment = RedisDeployment.Create(new RedisOptions
        {
            Sentinels = { "127.0.0.1:1" },
            ServiceName = "haclient",
            Password = Secret,
            Resilience = { OperationTimeout = TimeSpan.FromMilliseconds(300) },
            WaitTimeout = TimeSpan.FromMilliseconds(100),
        });
        Assert.Null(deployment.Options.Password);
        Assert.DoesNotContain(Secret, System.Text.Json.JsonSerializer.Serialize(deployment.Options), StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, deployment.ToString()!, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, deployment.Topology.ToString()!, StringComparison.Ordinal);
        var e = await Assert.ThrowsAnyAsync<HaClientException>(() => deployment.ExecuteWriteAsync((db, ct) => db.StringSetAsync("k", "v")));
        Assert.DoesNotContain(Secret, e.ToString(), StringComparison.Ordinal);
    }
}
