#!/usr/bin/env bash
# Runs the BenchmarkDotNet suite under the shared measurement lock, after waiting (at most BENCH_LOAD_WAIT_S, default
# 600 s) for the 1-minute load average to drop below BENCH_MAX_LOAD (default 1.0). BENCH_LOCK_WAIT_S (default 900)
# bounds the wait for the lock; MEASURE_IGNORE_LOCK=1 runs without it after that (recorded in the README). Copies the GitHub-markdown reports
# and the machine description to benchmarks/results/bdn-<date>/.
#
#   bash benchmarks/HaClient.Benchmarks/run.sh [BenchmarkDotNet args, default: --filter '*']
#
# Needs the lab's plain PG primary on 127.0.0.1:15432 and Redis Sentinels on 16479-16481 (sudo bash eng/lab.sh up).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
MAX_LOAD=${BENCH_MAX_LOAD:-1.0}
LOAD_WAIT_S=${BENCH_LOAD_WAIT_S:-600}
ARTIFACTS=/tmp/haclient-bench-artifacts
OUT=benchmarks/results/bdn-$(date -u +%Y-%m-%d)
(($#)) || set -- --filter '*'
log() { printf 'bench: %s\n' "$*" >&2; }

# shellcheck source=../../eng/lab/measure.sh
source "$ROOT/eng/lab/measure.sh"
# ---
log "building (Release)"
dotnet build benchmarks/HaClient.Benchmarks -c Release -nologo -v q >&2
take_measure_lock "${BENCH_LOCK_WAIT_S:-900}"
wait_for_quiet "$MAX_LOAD" "$LOAD_WAIT_S"
load_before=$(cat /proc/loadavg)
log "loadavg at start: $load_before"
rm -rf "$ARTIFACTS"
start=$(date -u +%FT%TZ)
timeout 1200 dotnet benchmarks/HaClient.Benchmarks/bin/Release/net10.0/HaClient.Benchmarks.dll --artifacts "$ARTIFACTS" "$@"
load_after=$(cat /proc/loadavg)
mkdir -p "$OUT"
cp "$ARTIFACTS"/results/*-report-github.md "$OUT"/
{
  echo "# BenchmarkDotNet run, $start"
  echo
  echo "Command: \`bash benchmarks/HaClient.Benchmarks/run.sh $*\` (runs \`dotnet benchmarks/HaClient.Benchmarks/bin/Release/net10.0/HaClient.Benchmarks.dll --artifacts $ARTIFACTS $*\` under the lock $MEASURE_LOCK)"
  echo
  echo "Job: 1 launch, 3 warm-up + 12 measured iterations of ~250 ms, MemoryDiagnoser (see BenchConfig.cs)."
  echo
  echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
  echo "- RAM: $(free -h | awk '/^Mem:/ {print $2}')"
  echo "- OS: $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r)"
  echo "- .NET: $(dotnet --version) SDK, runtime $(dotnet --list-runtimes | awk '/NETCore.App/ {v=$2} END {print v}')"
  echo "- measurement lock $MEASURE_LOCK: $MEASURE_LOCK_STATUS"
  echo "- loadavg before: $load_before"
  echo "- loadavg after: $load_after"
  echo "- Servers: PostgreSQL 15 plain lab primary 127.0.0.1:15432; Redis 7 Sentinel master (service haclient, Sentinels 16479-16481); all on the same machine (loopback)."
} > "$OUT/README.md"
log "results in $OUT"
