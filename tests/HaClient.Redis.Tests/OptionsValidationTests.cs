using HaClient.Redis;
using Microsoft.Extensions.Options;

namespace HaClient.Redis.Tests;

public class OptionsValidationTests
{
    private const string Secret = "s3cr3t-Pa55word";

    private static RedisOptions Valid() => new()
    {
        Sentinels = { "127.0.0.1:16479", "127.0.0.1:16480" },
        ServiceName = "haclient",
        Password = Secret,
    };

    private static IReadOnlyList<string> Errors(RedisOptions o)
    {
        var r = new RedisOptionsValidator().Validate(null, o);
        var failures = r.Failures?.ToList() ?? [];
        foreach (var f in failures)
        {
            Assert.DoesNotContain(Secret, f, StringComparison.Ordinal);
        }

        return failures;
    }

    [Fact]
    public void ValidOptionsPass() => Assert.Empty(Errors(Valid()));

    [Fact]
    public void TlsFilesMustExistAndAreNamedBySettingOnly()
    {
        var o = Valid();
        var missing = "/nonexistent/" + Secret + "/ca.pem";
        o.Tls = new RedisTlsOptions { Enabled = true, CaCertificatePath = missing, ClientKeyPath = missing };
        var errors = Errors(o);
        Assert.Contains("Tls:CaCertificatePath: no such file.", errors);
        Assert.Contains("Tls:ClientKeyPath: is set without Tls:ClientCertificatePath.", errors);
        Assert.All(errors, e => Assert.DoesNotContain("/nonexistent/", e, StringComparison.Ordinal));

        o.Tls = new RedisTlsOptions { Enabled = true, CaCertificatePath = typeof(OptionsValidationTests).Assembly.Location };
        Assert.Empty(Errors(o));
    }

    [Fact]
    public void BadSentinelNamesItsIndex()
    {
        var o = Valid();
        o.Sentinels.Add("x:y");
        var e = Assert.Single(Errors(o));
        Assert.StartsWith("Sentinels[2]: 'x:y'", e, StringComparison.Ordinal);
    }

    [Fact]
    public void EmptyEndpointNamesItsIndex()
    {
        var o = new RedisOptions { Endpoints = { "127.0.0.1:16379", " " }, Password = Secret };
        Assert.Contains(Errors(o), e => e.StartsWith("Endpoints[1]:", StringComparison.Ordinal));
    }

    [Fact]
    public void DuplicateSentinelIsReported()
    {
        var o = Valid();
        o.Sentinels.Add("127.0.0.1:16479");
        Assert.Contains(Errors(o), e => e.StartsWith("Sentinels[2]:", StringComparison.Ordinal) && e.Contains("twice", StringComparison.Ordinal));
    }

    [Fact]
    public void ServiceNameRequiredWithSentinels()
    {
        var o = Valid();
        o.ServiceName = null;
        Assert.Contains(Errors(o), e => e.StartsWith("ServiceName:", StringComparison.Ordinal));
    }

    [Fact]
    public void NeitherSentinelsNorEndpoints()
    {
        var o = new RedisOptions { Password = Secret };
        Assert.Contains(Errors(o), e => e.StartsWith("Sentinels:", StringComparison.Ordinal));
    }

    [Fact]
    public void BothSentinelsAndEndpoints()
    {
        var o = Valid();
        o.Endpoints.Add("127.0.0.1:16379");
        Assert.Contains(Errors(o), e => e.StartsWith("Endpoints:", StringComparison.Ordinal));
    }

    [Fact]
    public void ClusterWithSentinelsIsRejected()
    {
        var o = Valid();
        o.Cluster = true;
        Assert.Contains(Errors(o), e => e.StartsWith("Cluster:", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(nameof(RedisOptions.ProbeInterval))]
    [InlineData(nameof(RedisOptions.FailoverProbeInterval))]
    [InlineData(nameof(RedisOptions.ProbeTimeout))]
    [InlineData(nameof(RedisOptions.ConnectTimeout))]
    [InlineData(nameof(RedisOptions.WaitTimeout))]
    public void OutOfRangeTimeNamesItself(string setting)
    {
        var o = Valid();
        typeof(RedisOptions).GetProperty(setting)!.SetValue(o, TimeSpan.Zero);
        Assert.Contains(Errors(o), e => e.StartsWith(setting + ":", StringComparison.Ordinal));
    }

    [Fact]
    public void NegativeLagBound()
    {
        var o = Valid();
        o.MaxLagBytes = -1;
        Assert.Contains(Errors(o), e => e.StartsWith("MaxLagBytes:", StringComparison.Ordinal));
    }

    [Fact]
    public void NegativeWaitReplicas()
    {
        var o = Valid();
        o.WaitReplicas = -1;
        Assert.Contains(Errors(o), e => e.StartsWith("WaitReplicas:", StringComparison.Ordinal));
    }

    [Fact]
    public void ResilienceSettingIsPrefixed()
    {
        var o = Valid();
        o.Resilience.OperationTimeout = TimeSpan.Zero;
        Assert.Contains(Errors(o), e => e.StartsWith("Resilience:OperationTimeout:", StringComparison.Ordinal));
    }

    [Fact]
    public void WaitTimeoutMustFitTheBudget()
    {
        var o = Valid();
        o.WaitTimeout = TimeSpan.FromSeconds(10);
        Assert.Contains(Errors(o), e => e.StartsWith("WaitTimeout:", StringComparison.Ordinal));
    }

    [Fact]
    public void PasswordWithLineBreakIsRejectedWithoutQuotingIt()
    {
        var o = Valid();
        o.Password = Secret + "\n";
        Assert.Contains(Errors(o), e => e.StartsWith("Password:", StringComparison.Ordinal));
    }

    [Fact]
    public void CreateThrowsOptionsValidationExceptionWithoutSecret()
    {
        var o = Valid();
        o.Sentinels.Add("bad:port");
        var ex = Assert.Throws<OptionsValidationException>(() => RedisDeployment.Create(o));
        Assert.DoesNotContain(Secret, ex.Message, StringComparison.Ordinal);
        Assert.Contains("Sentinels[2]", ex.Message, StringComparison.Ordinal);
    }
}
