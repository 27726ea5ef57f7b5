#!/usr/bin/env python3
"""Samples per thread name in a `perf script` dump, and how many of them have a frame in a given library.

    DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 perf record -D 15000 -F 999 -g -o /tmp/h.data -- \
        benchmarks/HaClient.Workload/bin/Release/net10.0/HaClient.Workload --routes haclient --duration 20 --rounds 1 \
        --prewarm 8 --out /tmp/wl
    perf script -i /tmp/h.data > /tmp/h.script
    python3 benchmarks/tools/perf-threads.py /tmp/h.script [LIBRARY]   # LIBRARY defaults to libclrjit

(-D 15000 skips the start-up and the pre-warm: perf samples only the measured round.)
"""
import collections
import re
import sys


def main():
    path = sys.argv[1]
    library = sys.argv[2] if len(sys.argv) > 2 else 'libclrjit'
    by_thread, in_library = collections.Counter(), collections.Counter()
    for sample in open(path).read().split('\n\n'):
        lines = [line.strip() for line in sample.strip().split('\n')]
        if len(lines) < 2:
            continue
        header = re.match(r'(.*?)\s+\d+\s+[\d.]+:', lines[0])
        thread = header.group(1) if header else lines[0][:20]
        by_thread[thread] += 1
        if any(library in line for line in lines[1:]):
            in_library[thread] += 1
    print(f"samples: {sum(by_thread.values())}")
    for thread, count in by_thread.most_common(15):
        print(f"{count:8d} {thread}  ({in_library[thread]} with a frame in {library})")


if __name__ == '__main__':
    main()
