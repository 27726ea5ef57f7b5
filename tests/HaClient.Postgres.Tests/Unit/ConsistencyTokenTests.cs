using HaClient.Postgres;
using Xunit;

namespace HaClient.Postgres.Tests.Unit;

public class ConsistencyTokenTests
{
    [Theory]
    [InlineData(0x16B374D848UL, "16/B374D848")]
    [InlineData(0x1UL, "0/1")]
    [InlineData(0xFFFFFFFF00000000UL, "FFFFFFFF/0")]
    public void Formats_as_postgres_lsn_and_parses_back(ulong lsn, string text)
    {
        var token = new ConsistencyToken(lsn);
        Assert.Equal(text, token.ToString());
        Assert.True(ConsistencyToken.TryParse(text, out var parsed));
        Assert.Equal(token, parsed);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("16B374D848")]
    [InlineData("/1")]
    [InlineData("1/")]
    [InlineData("G/1")]
    [InlineData("123456789/1")]
    public void Rejects_malformed_text(string? text)
    {
        Assert.False(ConsistencyToken.TryParse(text, out _));
    }

    [Fact]
    public void Empty_token_means_within_lag_bound()
    {
        Assert.Equal(ReadConsistency.WithinLagBound, ReadConsistency.AtLeast(default));
        Assert.Equal(ReadConsistencyKind.AtLeast, ReadConsistency.AtLeast(new ConsistencyToken(5)).Kind);
    }
}
