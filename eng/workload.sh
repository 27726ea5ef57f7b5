#!/usr/bin/env bash
# Workload comparison (GitHub issue 5): the same bounded read-heavy workload through HaClient, Npgsql multi-host,
# HAProxy and pgpool-II, one route after another, against the lab's Patroni cluster. Run as root on the lab machine.
#
#   bash eng/workload.sh [--clients 16] [--duration 20] [--warmup 3] [--rounds 2] [--read-percent 90] [--routes haclient,npgsql,haproxy,pgpool]
#
# Brings the Patroni cluster up (eng/lab.sh patroni up), starts HAProxy and pgpool-II (eng/lab/proxies.sh), waits
# (at most WORKLOAD_LOAD_WAIT_S, default 600 s) for the 1-minute load average to drop below WORKLOAD_MAX_LOAD
# (default 1.0), all under the shared measurement lock /tmp/haclient-lab/drill.lock, writes
# benchmarks/results/workload-<date>.md, and stops the proxies whatever happens. WORKLOAD_LOCK_WAIT_S (default 900)
# bounds the wait for the lock; MEASURE_IGNORE_LOCK=1 runs without it after that (recorded in the report).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
MAX_LOAD=${WORKLOAD_MAX_LOAD:-1.0}
LOAD_WAIT_S=${WORKLOAD_LOAD_WAIT_S:-600}
mkdir -p /tmp/haclient-lab

log() { printf 'workload: %s\n' "$*" >&2; }

log "building benchmarks/HaClient.Workload (Release)"
dotnet build benchmarks/HaClient.Workload -c Release -nologo -v q >&2

# Everything below (lab up, proxies, the run) holds the shared measurement lock (fd 8; daemons start with 8>&- so
# they never keep it), so no drill or benchmark changes the cluster or loads the machine meanwhile.
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
take_measure_lock "${WORKLOAD_LOCK_WAIT_S:-900}"

log "patroni up"
timeout 300 bash eng/lab.sh patroni up 8>&- >&2

cleanup() { timeout 60 bash eng/lab/proxies.sh down >&2 || true; }
trap cleanup EXIT
# Fresh proxies: pgpool keeps a node detached after a failover it saw earlier.
timeout 60 bash eng/lab/proxies.sh down >&2 || true
timeout 120 bash eng/lab/proxies.sh up 8>&- >&2
bash eng/lab/proxies.sh status >&2

export HACLIENT_WORKLOAD_COMMAND="bash eng/workload.sh $*"
wait_for_quiet "$MAX_LOAD" "$LOAD_WAIT_S"
export HACLIENT_WORKLOAD_LOCK="$MEASURE_LOCK: $MEASURE_LOCK_STATUS"
log "loadavg at start: $(cat /proc/loadavg)"
# The run stops by itself after (warm-up + duration + 15 s) per route; timeout is the backstop.
timeout 900 dotnet benchmarks/HaClient.Workload/bin/Release/net10.0/HaClient.Workload.dll "$@"
