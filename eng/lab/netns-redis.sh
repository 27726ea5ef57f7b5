# shellcheck shell=bash
# The net part's Redis: r1..r3 in haclient-net-r1..r3 (see netns.sh), each a Redis on :6379 and a Sentinel on :26379
# (master name haclient, quorum 2, down-after 1000 ms, failover-timeout 5000 ms). r1 starts master. The master refuses
# writes (NOREPLICAS) once no replica has acknowledged for NET_RD_MAX_LAG seconds (min-replicas-to-write 1).

NET_RD_MAX_LAG=${NET_RD_MAX_LAG:-5}
netrd_cli() { local n=$1 port=$2; shift 2; timeout 2 redis-cli -h "${NET_ADDR[$n]}" -p "$port" "$@" 2>/dev/null; }

netrd_start() { # netrd_start NODE [MASTER [keep]] : MASTER (r1 by default) is the node it replicates; keep = the
  # Sentinel restarts on its own rewritten configuration (it knows the current master, epoch and peers)
  local n=$1 master=${2:-r1} keep=${3:-} d="$NET_DIR/$1"
  net_node_link "$n"
  mkdir -p "$d"
  cat > "$d/redis.conf" <<CONF
bind ${NET_ADDR[$n]}
port 6379
daemonize yes
pidfile $d/redis.pid
logfile $d/redis.log
dir $d
save ""
appendonly no
protected-mode no
repl-diskless-sync yes
repl-diskless-sync-delay 0
min-replicas-to-write 1
min-replicas-max-lag $NET_RD_MAX_LAG
CONF
  [[ $n != "$master" ]] && echo "replicaof ${NET_ADDR[$master]} 6379" >> "$d/redis.conf"
  [[ $keep == keep && -s "$d/sentinel.conf" ]] || cat > "$d/sentinel.conf" <<CONF
bind ${NET_ADDR[$n]}
port 26379
daemonize yes
pidfile $d/sentinel.pid
logfile $d/sentinel.log
dir $d
protected-mode no
sentinel monitor haclient ${NET_ADDR[$master]} 6379 2
sentinel down-after-milliseconds haclient 1000
sentinel failover-timeout haclient 5000
sentinel parallel-syncs haclient 1
CONF
  netrd_alive "$n" redis || net_exec "$n" redis-server "$d/redis.conf" </dev/null 9>&- >/dev/null 2>&1
  netrd_alive "$n" sentinel || net_exec "$n" redis-sentinel "$d/sentinel.conf" </dev/null 9>&- >/dev/null 2>&1
}
netrd_pid() { local p; p=$(read_pid "$NET_DIR/$1/$2.pid"); pid_alive "$p" "$2" && echo "$p"; } # netrd_pid NODE redis|sentinel
netrd_alive() { [[ -n "$(netrd_pid "$@")" ]]; }

# netrd_master : the master address a majority of the answering Sentinels name
netrd_master() {
  local n m out=()
  for n in "${NET_RD[@]}"; do
    m=$(netrd_cli "$n" 26379 SENTINEL get-master-addr-by-name haclient | head -n1) && [[ -n "$m" ]] && out+=("$m")
  done
  ((${#out[@]})) || return 1
  printf '%s\n' "${out[@]}" | sort | uniq -c | sort -rn | awk -v k="${#out[@]}" 'NR==1 && $1*2>k {print $2; f=1} END {exit !f}'
}
netrd_healthy() {
  [[ "$(netrd_master)" == "${NET_ADDR[r1]}" ]] || return 1
  netrd_cli r1 6379 INFO replication | grep -q '^connected_slaves:2' || return 1
  local n; for n in "${NET_RD[@]}"; do
    [[ "$(netrd_cli "$n" 26379 SENTINEL master haclient | awk 'p {print; exit} $0 == "num-other-sentinels" {p=1}')" == 2 ]] || return 1
  done
}

netrd_up() {
  local n t0; t0=$(now_ms)
  ensure_packages "${PKGS_REDIS[@]}"
  if netrd_healthy; then log "net redis already up"; return 0; fi
  net_heal all >/dev/null
  local pids=()
  for n in "${NET_RD[@]}"; do
    net_has_ns "$(net_ns "$n")" && mapfile -t -O "${#pids[@]}" pids < <(ip netns pids "$(net_ns "$n")" 2>/dev/null)
  done
  if ((${#pids[@]})); then signal_pids CONT "${pids[@]}"; signal_pids KILL "${pids[@]}"; wait_gone 10 "${pids[@]}" || true; fi
  for n in "${NET_RD[@]}"; do netrd_start "$n"; done
  must_wait 30 "net redis: r1 master with 2 replicas, 3 Sentinels that know each other" netrd_healthy
  log "net redis up ($(( $(now_ms) - t0 )) ms)"
}

netrd_status() {
  local n
  for n in "${NET_RD[@]}"; do
    net_has_ns "$(net_ns "$n")" || continue
    echo "$n redis role=$(netrd_cli "$n" 6379 ROLE | head -n1 || echo down) sentinel_says=$(netrd_cli "$n" 26379 SENTINEL get-master-addr-by-name haclient | head -n1 || echo down)"
  done
}
