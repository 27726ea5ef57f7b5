using HaClient.Redis;

namespace HaClient.Redis.Tests;

public class RedisEndpointTests
{
    [Theory]
    [InlineData("127.0.0.1:16379", "127.0.0.1", 16379)]
    [InlineData("redis-a", "redis-a", 6379)]
    [InlineData(" host:1 ", "host", 1)]
    [InlineData("[::1]:7000", "::1", 7000)]
    public void Parses(string text, string host, int port)
    {
        var e = HostEndpoint.TryParse(text, 6379, out var error);
        Assert.Null(error);
        Assert.Equal(new HostEndpoint(host, port), e);
    }

    [Theory]
    [InlineData("x:y")]
    [InlineData("host:0")]
    [InlineData("host:70000")]
    [InlineData("a:b:c")]
    [InlineData("user@host:1")]
    [InlineData("")]
    public void RejectsWithAMessage(string text)
    {
        Assert.Null(HostEndpoint.TryParse(text, 6379, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void FormatsIpv6WithBrackets() => Assert.Equal("[::1]:7000", new HostEndpoint("::1", 7000).ToString());

    [Fact]
    public void DurabilityDefaults()
    {
        Assert.True(WriteDurability.Default.IsDefault);
        Assert.False(WriteDurability.None.IsDefault);
        Assert.Equal(0, WriteDurability.None.Replicas);
    }
}
