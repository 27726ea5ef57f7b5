#!/usr/bin/env bash
# Failover drills on the local lab. Each run: a bounded workload, one fault, a readable report, and a JSON last line.
#   bash eng/drill.sh --scenario crash --sync --client haclient --workload write
#   bash eng/drill.sh matrix [pg|redis|all]   # every scenario for both clients; JSON lines -> benchmarks/results/
# Scenarios: crash | kill-postmaster | hang | lag | switchover (Patroni lab); plain-hang (plain lab: the primary
# freezes, a standby is promoted --promote-after-s later, 1 s by default); redis-crash | redis-hang |
# redis-switchover | session-failover | redis-token (Redis + Sentinel lab); redis-cluster-crash | redis-cluster-hang |
# redis-cluster-token (Redis Cluster lab; the token drills: read-your-writes reads through replicas while writing, one failover);
# brownout (plain lab: replica n2 slowed by a SIGSTOP duty cycle from --fault-after-s on) | zone-local (plain lab in its
# zone layout: n2 crashed at --fault-after-s, restarted 5 s later). Clients: haclient | efcore (EF Core on HaClient) | npgsql | seredis.
# --via pgbouncer (PostgreSQL scenarios): through the lab's PgBouncer in front of each node (transaction mode); HaClient
# sends requests to the poolers and watches the servers, plain Npgsql multi-host lists the poolers.
#   bash eng/drill.sh matrix pgbouncer   # crash, hang, lag, switchover through PgBouncer for haclient and npgsql
# Partitions (the lab's net part, eng/lab/netns.sh: nodes in network namespaces, started on demand): partition-dcs |
# partition-primary | partition-client | disk-full (Patroni in namespaces; haclient | npgsql) and
# partition-sentinel-minority (Redis + Sentinel in namespaces; haclient | seredis). See docs/partitions.md.
#   bash eng/drill.sh matrix partitions  # all of them for both clients, then `net down`
#   bash eng/drill.sh soak --minutes 30 --seed 17   # random faults back to back (docs/soak.md); exit 1 on a violation
#   bash eng/drill.sh soak --net --minutes 30 --seed 17   # the same on the net part, partitions in the catalogue
#   bash eng/drill.sh run --pg "..." --fault "name=cmd" --max-window 30s   # the drill as a tool (haclient-drill run)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
bash eng/lab.sh install >/dev/null
dotnet build benchmarks/HaClient.Drill -c Release -nologo -v quiet -clp:ErrorsOnly >&2
mkdir -p /tmp/haclient-lab

drill() { flock -o /tmp/haclient-lab/drill.lock dotnet run --no-build -c Release --project benchmarks/HaClient.Drill -- "$@"; }

if [[ "${1:-}" == soak || "${1:-}" == run ]]; then
  # The soak holds the lab lock for its whole length (it bounds itself; the timeout is a backstop). A soak on the net
  # part (--net) removes the net part after it, under the same lock (it is started only on demand).
  net=0; for a in "$@"; do [[ $a == --net ]] && net=1; done
  exec flock -w 2400 -o /tmp/haclient-lab/drill.lock bash -c '
    rc=0; timeout 9000 dotnet run --no-build -c Release --project benchmarks/HaClient.Drill -- "${@:2}" || rc=$?
    if [[ $1 == 1 ]]; then bash eng/lab.sh net down >&2 || true; fi
    exit $rc' drill-soak "$net" "$@"
fi

if [[ "${1:-}" != matrix ]]; then
  drill "$@"
  exit
fi

which=${2:-pg}
out="benchmarks/results/drills-$(date +%Y-%m-%d)-${which}.jsonl"
mkdir -p benchmarks/results
: > "$out"
run() { echo "== drill $*" >&2; drill --duration-s 40 "$@" | tee /dev/stderr | tail -n 1 >> "$out"; }
if [[ $which == pg || $which == all ]]; then
  for client in haclient npgsql; do
    run --scenario crash --sync --workload write --client $client
    run --scenario crash --sync --workload mixed --client $client
    run --scenario hang --sync --workload mixed --client $client
    run --scenario lag --workload mixed --client $client
    run --scenario switchover --workload mixed --client $client
  done
  # The same workload through EF Core on HaClient (HaClient.EntityFrameworkCore): a crash and a lagging replica.
  run --scenario crash --sync --workload mixed --client efcore
  run --scenario lag --workload mixed --client efcore
fi
if [[ $which == pgbouncer ]]; then
  for client in haclient npgsql; do
    run --via pgbouncer --scenario crash --sync --workload mixed --client $client
    run --via pgbouncer --scenario hang --sync --workload mixed --client $client
    run --via pgbouncer --scenario lag --sync --workload mixed --client $client
    run --via pgbouncer --scenario switchover --sync --workload mixed --client $client
  done
fi
if [[ $which == redis || $which == all ]]; then
  for client in haclient seredis; do
    for s in redis-crash redis-hang redis-switchover session-failover redis-cluster-crash redis-cluster-hang; do run --scenario $s --client $client; done
  done
fi
if [[ $which == partitions ]]; then
  for client in haclient npgsql; do
    run --duration-s 30 --scenario partition-dcs --workload mixed --client $client
    run --duration-s 30 --scenario partition-primary --workload mixed --client $client
    run --duration-s 20 --scenario disk-full --workload mixed --client $client
  done
  run --duration-s 20 --scenario partition-client --workload mixed --client haclient
  for client in haclient seredis; do
    run --duration-s 30 --scenario partition-sentinel-minority --client $client
    run --duration-s 30 --scenario partition-sentinel-minority --client $client --sync   # WAIT 1 after each write
  done
  flock -o /tmp/haclient-lab/drill.lock bash eng/lab.sh net down
fi
echo "== results in $out" >&2
cat "$out"
