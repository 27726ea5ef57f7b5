using HaClient.Drill.Soak;

namespace HaClient.DrillTests;

/// <summary>The soak's majority verdict (what 2 of 3 voters name primary, over time), which the wrong-role rule reads
/// at each old-primary acknowledgement.</summary>
public sealed class MajorityVerdictsTests
{
    private sealed class Scripted() : MajorityVerdicts(["v1", "v2", "v3"], ["n0:1", "n1:1", "n2:1"])
    {
        public readonly int[] Answers = [-1, -1, -1];

        protected override int Ask(int voter) => Volatile.Read(ref Answers[voter]);

        public void Say(params int[] answers)
        {
            for (var i = 0; i < answers.Length; i++) Volatile.Write(ref Answers[i], answers[i]);
        }
    }

    private static double Now() => HaClient.Drill.Lab.NowUnixMs();

    private static async Task Until(Func<bool> condition)
        => Assert.True(await Lab.EventuallyAsync(() => Task.FromResult(condition()), TimeSpan.FromSeconds(10)), "the verdict did not change within 10 s");

    [Fact]
    public async Task The_old_primary_is_named_another_only_once_a_strict_majority_names_another_node()
    {
        var v = new Scripted();
        v.Start();
        try
        {
            v.Say(0, 0, 0);
            await Until(() => v.NamedAnother(1, Now()));
            Assert.False(v.NamedAnother(0, Now()));

            // The old primary's own voter keeps naming it (cut off from the DCS, its view is its own); one other voter
            // names node 1: no majority yet, so nobody is named and node 0 is not "another's".
            v.Say(0, 1, -1);
            await Task.Delay(300);
            var split = Now();
            Assert.False(v.NamedAnother(0, split));

            v.Say(0, 1, 1);
            await Until(() => v.NamedAnother(0, Now()));
            Assert.False(v.NamedAnother(1, Now()));

            // A time before the change reads the verdict then in force.
            Assert.False(v.NamedAnother(0, split));
        }
        finally
        {
            v.Stop();
        }
    }
}
