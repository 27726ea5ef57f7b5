using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace HaClient.AspNetCore.Tests;

/// <summary>docs/operations: the Grafana dashboard and the Prometheus alert rules, their queries, the metric names those
/// queries read, and Prometheus text as /metrics serves it.</summary>
public static partial class OperatorAssets
{
    public static string Dashboard { get; } = Path.Combine(Lab.RepoRoot, "docs", "operations", "haclient-dashboard.json");

    public static string AlertRules { get; } = Path.Combine(Lab.RepoRoot, "docs", "operations", "haclient-alerts.yml");

    public const string Promtool = "/usr/bin/promtool";

    /// <summary>Every <c>expr</c> of the dashboard (panels, annotations), Grafana's variables replaced by values
    /// Prometheus accepts.</summary>
    public static IReadOnlyList<string> DashboardQueries()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Dashboard));
        var found = new List<string>();
        Collect(doc.RootElement, found);
        return found.Select(e => e.Replace("$__rate_interval", "1m").Replace("$cluster", ".*")).ToList();

        static void Collect(JsonElement e, List<string> found)
        {
            if (e.ValueKind == JsonValueKind.Object)
            {
                foreach (var p in e.EnumerateObject())
                {
                    if (p.Name == "expr" && p.Value.ValueKind == JsonValueKind.String)
                    {
                        found.Add(p.Value.GetString()!);
                    }
                    else
                    {
                        Collect(p.Value, found);
                    }
                }
            }
            else if (e.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in e.EnumerateArray())
                {
                    Collect(item, found);
                }
            }
        }
    }

    /// <summary>Every <c>expr</c> of the alert rules (one-line or a <c>|</c> block).</summary>
    public static IReadOnlyList<string> AlertQueries()
    {
        var lines = File.ReadAllLines(AlertRules);
        var found = new List<string>();
        for (var i = 0; i < lines.Length; i++)
        {
            var m = ExprLine().Match(lines[i]);
            if (!m.Success)
            {
                continue;
            }

            if (m.Groups["value"].Value != "|")
            {
                found.Add(m.Groups["value"].Value);
                continue;
            }

            var indent = m.Groups["indent"].Length;
            var block = new List<string>();
            while (i + 1 < lines.Length && (lines[i + 1].Length - lines[i + 1].TrimStart().Length > indent || lines[i + 1].Trim().Length == 0))
            {
                block.Add(lines[++i].Trim());
            }

            found.Add(string.Join(' ', block).Trim());
        }

        return found;
    }

    /// <summary>The metric names a PromQL expression reads: identifiers outside label matchers, ranges, strings and
    /// grouping clauses that are not functions, aggregations or keywords.</summary>
    public static IEnumerable<string> MetricNames(string expr)
    {
        var s = StringLiteral().Replace(expr, "\"\"");
        s = LabelMatchers().Replace(s, " ");
        s = Ranges().Replace(s, " ");
        s = Grouping().Replace(s, " ");
        return Identifier().Matches(s).Select(m => m.Value).Where(n => !Keywords.Contains(n)).Distinct();
    }

    /// <summary>Prometheus text: every sample as (name, labels, value).</summary>
    public static List<(string Name, Dictionary<string, string> Labels, double Value)> ParseScrape(string text)
    {
        var samples = new List<(string, Dictionary<string, string>, double)>();
        foreach (var line in text.Split('\n'))
        {
            var m = SampleLine().Match(line);
            if (!m.Success)
            {
                continue;
            }

            var labels = LabelPair().Matches(m.Groups["labels"].Value).ToDictionary(l => l.Groups[1].Value, l => l.Groups[2].Value);
            var value = m.Groups["value"].Value switch
            {
                "+Inf" => double.PositiveInfinity,
                var v => double.Parse(v, CultureInfo.InvariantCulture),
            };
            samples.Add((m.Groups["name"].Value, labels, value));
        }

        return samples;
    }

    /// <summary>Runs promtool with <paramref name="arguments"/>; returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> PromtoolAsync(string arguments)
    {
        var (code, stdout, stderr) = await Processes.RunAsync(Promtool, arguments, TimeSpan.FromSeconds(60));
        return (code, stdout + stderr);
    }

    private static readonly HashSet<string> Keywords = ["and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf", "nan"];

    [GeneratedRegex("^(?<indent>\\s*)(- )?expr:\\s*(?<value>.*?)\\s*$")]
    private static partial Regex ExprLine();

    [GeneratedRegex("\"(?:[^\"\\\\]|\\\\.)*\"")]
    private static partial Regex StringLiteral();

    [GeneratedRegex("\\{[^}]*\\}")]
    private static partial Regex LabelMatchers();

    [GeneratedRegex("\\[[^\\]]*\\]")]
    private static partial Regex Ranges();

    [GeneratedRegex("\\b(by|without|on|ignoring|group_left|group_right)\\s*\\([^)]*\\)")]
    private static partial Regex Grouping();

    // A whole identifier (word boundaries on both sides) not followed by "(" (a function or aggregation).
    [GeneratedRegex("(?<![\\w$.])[a-zA-Z_:][a-zA-Z0-9_:]*\\b(?!\\s*\\()")]
    private static partial Regex Identifier();

    [GeneratedRegex("^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\\{(?<labels>.*)\\})?\\s+(?<value>\\S+)")]
    private static partial Regex SampleLine();

    [GeneratedRegex("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"")]
    private static partial Regex LabelPair();
}
