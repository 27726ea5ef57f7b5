#!/usr/bin/env python3
"""Which frames ran in one time window of a dotnet-trace thread-time profile.

    dotnet-trace collect --show-child-io --profile dotnet-sampled-thread-time -o /tmp/crash.nettrace -- \
        benchmarks/HaClient.Drill/bin/Release/net10.0/HaClient.Drill --scenario crash --sync --workload mixed \
        --client haclient --concurrency 400
    dotnet-trace convert --format speedscope -o /tmp/crash.speedscope /tmp/crash.nettrace
    python3 benchmarks/tools/speedscope-window.py /tmp/crash.speedscope.json FROM_MS TO_MS [TOP]

FROM_MS/TO_MS are milliseconds from the trace's start (the crash shows as the burst of "HaClient cancel" threads).
Counts only samples whose leaf is CPU_TIME (a thread in managed code: running or runnable), summed over all threads,
as thread-milliseconds: leaf frames first, then inclusive frames.
"""
import collections
import json
import sys


def main():
    path, lo, hi = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    top = int(sys.argv[4]) if len(sys.argv) > 4 else 60
    d = json.load(open(path))
    frames = [f['name'] for f in d['shared']['frames']]
    inclusive, leaf = collections.Counter(), collections.Counter()
    for profile in d['profiles']:
        stack, last = [], None
        for e in profile['events']:
            t = e['at']
            if last is not None and stack:
                a, b = max(last, lo), min(t, hi)
                names = [frames[f] for f in stack]
                if b > a and names[-1] == 'CPU_TIME':
                    for n in set(names):
                        inclusive[n] += b - a
                    leaf[names[-2] if len(names) > 1 else names[-1]] += b - a
            if e['type'] == 'O':
                stack.append(e['frame'])
            elif stack:
                stack.pop()
            last = t
    print(f"running-thread ms in {lo:.0f}-{hi:.0f} ms: {inclusive['CPU_TIME']:.1f}")
    print("leaf (the frame under CPU_TIME):")
    for k, v in leaf.most_common(15):
        print(f"{v:8.1f} {k[:150]}")
    print("inclusive:")
    for k, v in inclusive.most_common(top):
        if not k.startswith('Thread ('):
            print(f"{v:8.1f} {k[:150]}")


if __name__ == '__main__':
    main()
