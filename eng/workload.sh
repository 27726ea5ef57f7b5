#!/usr/bin/env bash
# Workload comparison (GitHub issue 5): the same bounded read-heavy workload through HaClient, Npgsql multi-host,
# HAProxy and pgpool-II, one route after another, against the lab's Patroni cluster. Run as root on the lab machine.
#
#   bash eng/workload.sh [--clients 16] [--duration 60] [--warmup 3] [--prewarm 10] [--rounds 4] [--read-percent 90] [--order rotate|mirror] [--routes haclient,haclient-pgbouncer,npgsql,haproxy,pgpool]
# (haclient-pgbouncer and npgsql-pgbouncer go through the lab's PgBouncer beside each Patroni node, 15462-15464.)
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
# shellcheck source=lab/measure.sh
source "$ROOT/eng/lab/measure.sh"
# ---
take_measure_lock "${WORKLOAD_LOCK_WAIT_S:-900}"

log "patroni up"
timeout 300 bash eng/lab.sh patroni up 8>&- >&2
timeout 120 bash eng/lab.sh pgbouncer up 8>&- >&2

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
