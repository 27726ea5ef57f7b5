namespace HaClient.Postgres;

/// <summary>What one Patroni REST endpoint said about the leader: it did not answer, or it answered and named a leader
/// (<see cref="Leader"/>) or none (<c>null</c>).</summary>
internal readonly record struct PatroniAnswer(bool Answered, HostEndpoint? Leader)
{
    public static PatroniAnswer Silent => default;
}

/// <summary>
/// Decides which member Patroni names leader from the answers of every configured REST endpoint. A member cut off from
/// the DCS can still answer with its own, stale view ("I am the leader") while the members that reach the DCS agree on
/// another one, so no single endpoint is believed: the leader is the one named by a strict majority of the endpoints that
/// answered. When the answers disagree with no majority, or the majority names no leader, writes are vetoed everywhere
/// (<see cref="PatroniVerdict.Answered"/> with no leader) until Patroni settles. When none answered, nothing is vetoed
/// and the PostgreSQL probes alone decide. Pure and allocation-free.
/// </summary>
internal static class PatroniLeaderVote
{
    public static PatroniVerdict Decide(ReadOnlySpan<PatroniAnswer> answers)
    {
        var answered = 0;
        foreach (var a in answers)
        {
            if (a.Answered)
            {
                answered++;
            }
        }

        if (answered == 0)
        {
            return new PatroniVerdict(false, null);
        }

        for (var i = 0; i < answers.Length; i++)
        {
            if (!answers[i].Answered)
            {
                continue;
            }

            var votes = 0;
            for (var j = 0; j < answers.Length; j++)
            {
                if (answers[j].Answered && Nullable.Equals(answers[j].Leader, answers[i].Leader))
                {
                    votes++;
                }
            }

            if (votes * 2 > answered)
            {
                return new PatroniVerdict(true, answers[i].Leader);
            }
        }

        return new PatroniVerdict(true, null);
    }

    /// <summary>Whether the answers so far already decide the round, whatever the endpoints still pending say: one view
    /// (a leader, or none) named by a strict majority of all the endpoints (<paramref name="answers"/>' length, pending
    /// ones <see cref="PatroniAnswer.Silent"/>). <see cref="Decide"/> on the complete answers then agrees.</summary>
    public static bool TrySettle(ReadOnlySpan<PatroniAnswer> answers, out PatroniVerdict verdict)
    {
        for (var i = 0; i < answers.Length; i++)
        {
            if (!answers[i].Answered)
            {
                continue;
            }

            var votes = 0;
            for (var j = 0; j < answers.Length; j++)
            {
                if (answers[j].Answered && Nullable.Equals(answers[j].Leader, answers[i].Leader))
                {
                    votes++;
                }
            }

            if (votes * 2 > answers.Length)
            {
                verdict = new PatroniVerdict(true, answers[i].Leader);
                return true;
            }
        }

        verdict = default;
        return false;
    }
}

/// <summary>The vote's outcome: whether any endpoint answered, and the leader a majority of them named (<c>null</c>: none,
/// or no majority; every member is then vetoed).</summary>
internal readonly record struct PatroniVerdict(bool Answered, HostEndpoint? Leader);
