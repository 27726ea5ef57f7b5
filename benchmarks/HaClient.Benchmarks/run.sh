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

# --- measurement lock and quiet-machine wait (same in eng/workload.sh and benchmarks/HaClient.Benchmarks/run.sh)
#
# The lock is taken on fd 8 of the calling shell (not with `flock FILE COMMAND`): a daemon started by a locked command
# inherits the lock's file descriptor and then holds the lock for as long as it lives. Start daemons with `8>&-`.
MEASURE_LOCK=/tmp/haclient-lab/drill.lock
MEASURE_LOCK_STATUS=none

# lock_holders : pid and command line of every process with the lock file open.
lock_holders() {
  local p
  for p in /proc/[0-9]*; do
    if ls -l "$p/fd" 2>/dev/null | grep -qF -- "-> $MEASURE_LOCK"; then
      printf '  pid %s: %s\n' "${p#/proc/}" "$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null | cut -c1-160)"
    fi
  done
}

# take_measure_lock WAIT_S : flock fd 8 within WAIT_S. On failure lists the holders and exits, unless
# MEASURE_IGNORE_LOCK=1 (then continues and says so in MEASURE_LOCK_STATUS, which the reports record).
take_measure_lock() {
  local wait_s=$1
  mkdir -p "$(dirname "$MEASURE_LOCK")"
  exec 8>>"$MEASURE_LOCK"
  printf 'measure: waiting (at most %ss) for %s\n' "$wait_s" "$MEASURE_LOCK" >&2
  if flock -w "$wait_s" 8; then
    MEASURE_LOCK_STATUS="held"
    return 0
  fi
  printf 'measure: could not get %s within %ss; processes with it open:\n' "$MEASURE_LOCK" "$wait_s" >&2
  lock_holders >&2
  if [[ "${MEASURE_IGNORE_LOCK:-}" == 1 ]]; then
    MEASURE_LOCK_STATUS="NOT held (not obtained within ${wait_s}s; MEASURE_IGNORE_LOCK=1)"
    printf 'measure: continuing WITHOUT the lock (MEASURE_IGNORE_LOCK=1)\n' >&2
    return 0
  fi
  exit 1
}

# wait_for_quiet MAX_LOAD WAIT_S : wait until the 1-minute load average is below MAX_LOAD, at most WAIT_S.
wait_for_quiet() {
  local max=$1 wait_s=$2 load deadline
  deadline=$(( $(date +%s) + wait_s ))
  while true; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    if awk -v l="$load" -v m="$max" 'BEGIN { exit !(l < m) }'; then
      printf 'measure: load %s < %s\n' "$load" "$max" >&2
      return 0
    fi
    if (( $(date +%s) >= deadline )); then
      printf 'measure: load still %s after %ss; running anyway (recorded)\n' "$load" "$wait_s" >&2
      return 0
    fi
    sleep 5
  done
}
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
