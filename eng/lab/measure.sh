#!/usr/bin/env bash
# Sourced by eng/workload.sh and benchmarks/HaClient.Benchmarks/run.sh: the measurement lock and the quiet-machine wait.
# --- measurement lock and quiet-machine wait
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
