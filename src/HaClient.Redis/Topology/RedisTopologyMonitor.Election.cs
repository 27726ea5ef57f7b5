namespace HaClient.Redis;

/// <summary>What the election rounds (<see cref="ElectionRounds"/>) read from and commit to the monitor, under its lock.</summary>
internal sealed partial class RedisTopologyMonitor
{
    /// <summary>The inputs of one election, taken under the lock.</summary>
    internal Ballot TakeBallot()
    {
        lock (_gate)
        {
            var promotion = _promotion is { } p ? new PromotionUnderWay(p.Replica, p.From, _time.GetElapsedTime(p.At)) : (PromotionUnderWay?)null;
            return new Ballot(_states, _primary, _hint, promotion, _promotion?.At ?? 0);
        }
    }

    /// <summary>What the election settled: an announced promotion that is over, a hint that was verified.</summary>
    internal void Settle(in Election election, in Ballot ballot)
    {
        lock (_gate)
        {
            if (election.PromotionSettled && _promotion is { } p && p.At == ballot.PromotionAt)
            {
                _promotion = null;
            }

            if (election.Outcome == ElectionOutcome.Named && _hint == ballot.Hint)
            {
                _hint = null;
            }
        }
    }

    /// <summary>Whether a primary is verified and no promotion is announced (rounds may then slow down).</summary>
    internal bool IsSettled
    {
        get
        {
            lock (_gate)
            {
                return _primary >= 0 && _states[_primary].Role == RedisNodeRole.Primary && _promotion is null;
            }
        }
    }

    /// <summary>Makes the node at <paramref name="index"/> the primary if its last probe still says primary. Returns the
    /// node writes went to before when this is a failover (another node than the last primary), else null; and how long
    /// no primary was known.</summary>
    internal (bool Adopted, RedisNode? Previous, TimeSpan LostFor) Adopt(int index)
    {
        RedisNode? previous = null;
        var adopted = false;
        var lostFor = TimeSpan.Zero;
        Signal(() =>
        {
            if (_states[index].Role != RedisNodeRole.Primary || _primary == index)
            {
                return false;
            }

            var old = _primary;
            if (_reference >= 0 && _reference != index)
            {
                previous = _nodes[_reference];
                _history.Clear();
            }

            lostFor = _time.GetElapsedTime(_primaryLostAt);
            _primary = _reference = index;
            _referenceOffset = _states[index].ReplicationOffset;
            adopted = true;
            LogPrimaryChosen(_logger, _cluster, _nodes[index].Name, old >= 0 ? _nodes[old].Name : "(none)");
            return true;
        });
        return (adopted, previous, lostFor);
    }

    /// <summary>Loses the primary if it still is <paramref name="index"/>.</summary>
    internal void LoseIfStill(int index, string reason) => Signal(() => _primary == index && index >= 0 && Lose(reason));
}
