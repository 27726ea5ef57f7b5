#!/usr/bin/env bash
# Workload comparison (GitHub issue 5): the same bounded read-heavy workload through HaClient, Npgsql multi-host,
# HAProxy and pgpool-II, one route after another, against the lab's Patroni cluster. Run as root on the lab machine.
#
#   bash eng/workload.sh [--clients 16] [--duration 20] [--warmup 3] [--read-percent 90] [--routes haclient,npgsql,haproxy,pgpool]
#
# Brings the Patroni cluster up (eng/lab.sh patroni up), starts HAProxy and pgpool-II (eng/lab/proxies.sh), waits
# (at most WORKLOAD_LOAD_WAIT_S, default 600 s) for the 1-minute load average to drop below WORKLOAD_MAX_LOAD
# (default 1.0), all under the shared measurement lock /tmp/haclient-lab/drill.lock, writes
# benchmarks/results/workload-<date>.md, and stops the proxies whatever happens.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
MAX_LOAD=${WORKLOAD_MAX_LOAD:-1.0}
LOAD_WAIT_S=${WORKLOAD_LOAD_WAIT_S:-600}
LOCK=/tmp/haclient-lab/drill.lock
mkdir -p /tmp/haclient-lab

log() { printf 'workload: %s\n' "$*" >&2; }

# Everything below (lab up, proxies, the run) holds the shared measurement lock, so no drill or benchmark changes the
# cluster or loads the machine meanwhile. Bounded: at most 15 min to get it.
if [[ -z "${WORKLOAD_LOCKED:-}" ]]; then
  log "waiting for $LOCK"
  exec env WORKLOAD_LOCKED=1 flock -w 900 "$LOCK" bash "$0" "$@"
fi

log "building benchmarks/HaClient.Workload (Release)"
dotnet build benchmarks/HaClient.Workload -c Release -nologo -v q >&2

log "patroni up"
timeout 300 bash eng/lab.sh patroni up >&2

cleanup() { timeout 60 bash eng/lab/proxies.sh down >&2 || true; }
trap cleanup EXIT
# Fresh proxies: pgpool keeps a node detached after a failover it saw earlier.
timeout 60 bash eng/lab/proxies.sh down >&2 || true
timeout 120 bash eng/lab/proxies.sh up >&2
bash eng/lab/proxies.sh status >&2

wait_quiet() {
  local deadline=$(( $(date +%s) + LOAD_WAIT_S )) load
  while true; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    if awk -v l="$load" -v m="$MAX_LOAD" 'BEGIN { exit !(l < m) }'; then log "load $load < $MAX_LOAD"; return 0; fi
    if (( $(date +%s) >= deadline )); then log "load still $load after ${LOAD_WAIT_S}s; running anyway (recorded in the report)"; return 0; fi
    sleep 5
  done
}

export HACLIENT_WORKLOAD_COMMAND="bash eng/workload.sh $*"
wait_quiet
log "loadavg at start: $(cat /proc/loadavg)"
# The run stops by itself after (warm-up + duration + 15 s) per route; timeout is the backstop.
timeout 900 dotnet benchmarks/HaClient.Workload/bin/Release/net10.0/HaClient.Workload.dll "$@"
