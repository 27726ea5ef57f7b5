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
    [InlineData(":16/B374D848")]
    [InlineData("0:16/B374D848")]
    [InlineData("-1:16/B374D848")]
    [InlineData("+1:16/B374D848")]
    [InlineData("1x:16/B374D848")]
    [InlineData(" 1:16/B374D848")]
    [InlineData("18446744073709551616:16/B374D848")]
    [InlineData("7301234567890123456:")]
    [InlineData("7301234567890123456:16")]
    [InlineData("1:2:16/B374D848")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:12")]
    public void Rejects_malformed_text(string? text)
    {
        Assert.False(ConsistencyToken.TryParse(text, out _));
    }

    [Theory]
    [InlineData(0x16B374D848UL, 7301234567890123456UL, "7301234567890123456:16/B374D848")]
    [InlineData(0x1UL, 1UL, "1:0/1")]
    [InlineData(0xFFFFFFFFFFFFFFFFUL, ulong.MaxValue, "18446744073709551615:FFFFFFFF/FFFFFFFF")]
    public void Carries_the_clusters_system_identifier(ulong lsn, ulong systemIdentifier, string text)
    {
        var token = new ConsistencyToken(lsn, systemIdentifier);
        Assert.Equal(text, token.ToString());
        Assert.Equal(token, ConsistencyToken.Parse(text));
        Assert.NotEqual(new ConsistencyToken(lsn), token);
    }

    [Fact]
    public void The_older_form_parses_as_a_token_of_no_particular_cluster()
    {
        var token = ConsistencyToken.Parse("16/B374D848");
        Assert.Equal(0UL, token.SystemIdentifier);
        Assert.Equal(0x16B374D848UL, token.Lsn);
        Assert.Equal("16/B374D848", token.ToString());
    }

    [Fact]
    public void Parse_names_its_argument_and_the_form_it_wants()
    {
        var e = Assert.Throws<FormatException>(() => ConsistencyToken.Parse("0:1/2"));
        Assert.StartsWith("text:", e.Message, StringComparison.Ordinal);
        Assert.Contains("7301234567890123456:16/B374D848", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentNullException>(() => ConsistencyToken.Parse(null!));
    }

    [Fact]
    public void Max_keeps_the_later_position_of_one_cluster_and_the_newer_token_across_clusters()
    {
        var a = new ConsistencyToken(0x10, 1);
        var b = new ConsistencyToken(0x20, 1);
        Assert.Equal(b, ConsistencyToken.Max(a, b));
        Assert.Equal(b, ConsistencyToken.Max(b, a));
        Assert.Equal(a, ConsistencyToken.Max(a, default));
        Assert.Equal(a, ConsistencyToken.Max(default, a));

        // An identifier-less token (the older form) joins the identified one.
        Assert.Equal(new ConsistencyToken(0x30, 1), ConsistencyToken.Max(a, new ConsistencyToken(0x30)));

        // Across clusters there is no "later": the newer (second) one wins.
        var other = new ConsistencyToken(0x5, 2);
        Assert.Equal(other, ConsistencyToken.Max(b, other));
        Assert.Equal(b, ConsistencyToken.Max(other, b));
    }

    [Fact]
    public void Empty_token_means_within_lag_bound()
    {
        Assert.Equal(ReadConsistency.WithinLagBound, ReadConsistency.AtLeast(default));
        Assert.Equal(ReadConsistencyKind.AtLeast, ReadConsistency.AtLeast(new ConsistencyToken(5)).Kind);
    }
}
