# shellcheck shell=bash
# The soak's faults on the net part (bash eng/lab.sh net patroni|redis VERB, net healed-pg|healed-redis; sourced by
# netns.sh). The same catalogue as the loopback lab's (crash, hang, lag, switchover, Redis failover, Sentinel loss),
# on the nodes in namespaces, so that the soak can add the partitions (`net cut leader|master KIND`) to it.
# Each fault verb prints the node it hit and fault_at_ms= last; `restore` repairs what a fault left (a dead or frozen
# member restarted on its data, a member that does not stream rebuilt from the leader, the whole part rebuilt when
# that fails: lab data is test data).

netpt_patroni_pid() { # the Patroni process of member N (its command line names its own configuration)
  local p; for p in $(ip netns pids "$(net_ns "$1")" 2>/dev/null); do pid_alive "$p" "$(netpt_dir "$1")/patroni.yml" && { echo "$p"; return 0; }; done
  return 1
}
netpt_pm_pid() { local p; p=$(read_pid "$(net_fs "$1")/data/postmaster.pid"); pid_alive "$p" postgres && echo "$p"; }
net_pids() { local n; for n in "$@"; do net_has_ns "$(net_ns "$n")" && ip netns pids "$(net_ns "$n")" 2>/dev/null; done; return 0; }
net_leader_or_die() { netpt_leader || die "no net patroni leader (no REST majority names one)"; }
net_master_node() { # the node (r1-r3) the Sentinels' majority names master
  local a n; a=$(netrd_master) || return 1
  for n in "${NET_RD[@]}"; do [[ ${NET_ADDR[$n]} == "$a" ]] && { echo "$n"; return 0; }; done
  return 1
}
net_master_or_die() { net_master_node || die "no net redis master (no Sentinel majority names one)"; }

# ---------- synchronous mode ----------
netpt_sync_mode() { local n; for n in "${NET_PT[@]}"; do netpt_api "$n" /config | "$PY" -c "import json,sys; print('true' if json.load(sys.stdin).get('synchronous_mode') else 'false')" 2>/dev/null && return 0; done; return 1; }
netpt_set_sync() { # netpt_set_sync true|false
  local n
  echo "$1" > "$NET_DIR/sync-mode"   # what the healed check requires
  [[ "$(netpt_sync_mode)" == "$1" ]] && return 0
  for n in "${NET_PT[@]}"; do
    curl -fsS -m 5 -X PATCH -H 'Content-Type: application/json' -d "{\"synchronous_mode\": $1}" "http://${NET_ADDR[$n]}:8008/config" >/dev/null 2>&1 \
      && { log "net patroni: synchronous_mode=$1"; return 0; }
  done
  die "net patroni: PATCH /config synchronous_mode=$1 failed"
}
netpt_want_sync() { cat "$NET_DIR/sync-mode" 2>/dev/null || echo false; }

# netpt_soak_healthy : 3 members running, the majority's leader writable with 2 streaming replicas, a synchronous
# standby when synchronous mode is on, no replica's replay paused.
netpt_soak_healthy() {
  local l n p
  l=$(netpt_leader) || return 1
  netpt_api "$l" /cluster | "$PY" -c "
import json,sys
m=json.load(sys.stdin).get('members',[])
ok=len(m)==3 and all(x.get('state') in ('running','streaming') for x in m) and sum(1 for x in m if x.get('role') in ('leader','master'))==1
if '$(netpt_want_sync)'=='true': ok=ok and any(x.get('role')=='sync_standby' for x in m)
sys.exit(0 if ok else 1)" || return 1
  netpt_healthy || return 1
  if [[ "$(netpt_want_sync)" == true ]]; then
    [[ "$(netpt_sql "$l" "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'")" -ge 1 ]] || return 1
  fi
  for n in "${NET_PT[@]}"; do
    [[ $n == "$l" ]] && continue
    p=$(netpt_sql "$n" "SELECT pg_is_in_recovery() AND pg_is_wal_replay_paused()") || return 1
    [[ "$p" == f ]] || return 1
  done
}

# ---------- patroni faults ----------
netpt_crash_leader() {
  local l t pids; l=$(net_leader_or_die)
  mapfile -t pids < <(net_pids "$l")
  ((${#pids[@]})) || die "no processes in $(net_ns "$l")"
  t=$(now_ms)
  signal_pids STOP "${pids[@]}"; signal_pids KILL "${pids[@]}"
  log "net: SIGKILL $l (${#pids[@]} processes: Patroni, PostgreSQL)"
  echo "$l"; echo "fault_at_ms=$t"
}
netpt_kill_postmaster() {
  local l pm t pids; l=$(net_leader_or_die)
  pm=$(netpt_pm_pid "$l") || die "no postmaster for $l"
  mapfile -t pids < <(proc_tree "$pm")
  t=$(now_ms)
  signal_pids STOP "$pm"; signal_pids KILL "${pids[@]}"
  log "net: SIGKILL $l postmaster $pm and backends (${#pids[@]} processes)"
  echo "$l"; echo "fault_at_ms=$t"
}
netpt_hang_leader() {
  local l t pids; l=$(net_leader_or_die)
  mapfile -t pids < <(net_pids "$l")
  t=$(now_ms)
  signal_pids STOP "${pids[@]}"
  log "net: SIGSTOP $l (${#pids[@]} processes)"
  echo "$l"; echo "fault_at_ms=$t"
}
net_resume() { # SIGCONT every process of the given nodes
  local t pids; t=$(now_ms)
  mapfile -t pids < <(net_pids "$@")
  signal_pids CONT "${pids[@]}"
  log "net: SIGCONT $*"; echo "fault_at_ms=$t"
}
netpt_lag() { # replay paused on one replica (an asynchronous one when there is one)
  local l c t; l=$(net_leader_or_die)
  c=$(netpt_api "$l" /cluster | "$PY" -c "
import json,sys
m=[x for x in json.load(sys.stdin).get('members',[]) if x.get('role') not in ('leader','master') and x.get('state') in ('running','streaming')]
m=sorted(m, key=lambda x: (x.get('role')=='sync_standby', x['name']))
print(m[0]['name']) if m else sys.exit(1)") || die "no running replica to pause"
  t=$(now_ms)
  [[ -n "$(netpt_sql "$c" 'SELECT pg_wal_replay_pause()' && echo ok)" ]] || die "pg_wal_replay_pause() failed on $c"
  log "net: replay paused on $c (leader $l)"
  echo "$c"; echo "fault_at_ms=$t"
}
netpt_unlag() {
  local n t; t=$(now_ms)
  for n in "${NET_PT[@]}"; do netpt_sql "$n" "SELECT CASE WHEN pg_is_in_recovery() THEN pg_wal_replay_resume() END" >/dev/null || true; done
  log "net: replay resumed on every replica"; echo "fault_at_ms=$t"
}
netpt_switchover() {
  local l c t code; l=$(net_leader_or_die)
  c=$(netpt_api "$l" /cluster | patroni_switchover_candidate) || die "no healthy switchover candidate"
  t=$(now_ms)
  code=$(patroni_post_switchover "http://${NET_ADDR[$l]}:8008" "$l" "$c")
  [[ "$code" == 200 ]] || die "net switchover $l -> $c failed (HTTP $code)"
  wait_for 30 "$c leader and writable" eval '[[ "$(netpt_leader)" == "$c" ]] && netpt_writable "$c"' || die "net switchover: $c did not become a writable leader"
  log "net: switchover $l -> $c: new leader writable after $(( $(now_ms) - t )) ms"
  wait_for 30 "net patroni healthy after the switchover" netpt_soak_healthy || die "net switchover: not healthy 30 s after it"
  echo "old_leader=$l"; echo "new_leader=$c"; echo "fault_at_ms=$t"
}

# netpt_restore : cuts on etcd and the members healed, frozen processes resumed, dead members restarted on their data;
# then members that do not stream rebuilt from the leader; then, if still not healthy, the whole part rebuilt.
netpt_restore() {
  local n l pids
  for n in etcd "${NET_PT[@]}"; do net_heal "$n" >/dev/null; done
  mapfile -t pids < <(net_pids etcd "${NET_PT[@]}"); signal_pids CONT "${pids[@]}"
  for n in "${NET_PT[@]}"; do
    netpt_patroni_pid "$n" >/dev/null && continue
    log "net: restarting patroni $n on its data"
    mapfile -t pids < <(net_pids "$n"); signal_pids KILL "${pids[@]}"; wait_gone 10 "${pids[@]}" || true
    netpt_start "$n" keep
  done
  # As the loopback lab's `patroni up` does: 20 s for Patroni to repair the cluster itself, then every member that does
  # not stream from the leader is rebuilt from it (Patroni 3.0.2 does not repair a replica whose timeline is ahead of the
  # leader's: a promoted node after the old leader took its key back, the lease bug). The leader may not take writes
  # then (in synchronous mode a commit waits for a standby that does not stream), so that is not required here.
  wait_for 20 "net patroni healthy" netpt_soak_healthy && return 0
  if l=$(netpt_leader); then
    for n in "${NET_PT[@]}"; do
      [[ $n == "$l" ]] && continue
      [[ "$(netpt_sql "$l" "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND application_name = '$n'")" == 1 ]] && continue
      log "repaired: net patroni $n was not streaming from leader $l; rebuilt it from the leader"
      mapfile -t pids < <(net_pids "$n"); signal_pids CONT "${pids[@]}"; signal_pids KILL "${pids[@]}"; wait_gone 10 "${pids[@]}" || true
      netpt_start "$n"
    done
    wait_for 90 "net patroni healthy" netpt_soak_healthy && return 0
  fi
  # Keep what the members said (for the report's reader: $LAB_ROOT/net-repairs, outside the part `net down` removes).
  local keep; keep="$LAB_ROOT/net-repairs/$(date -u +%H%M%S)"; mkdir -p "$keep"
  for n in "${NET_PT[@]}"; do tail -n 300 "$NET_DIR/$n/patroni.log" > "$keep/$n-patroni.log" 2>/dev/null || true; done
  log "repaired: net patroni did not converge ($(netpt_status 2>/dev/null | tr '\n' ' ')); rebuilding it from empty data (logs: $keep)"
  local sync; sync=$(netpt_want_sync)
  netpt_teardown; netpt_up
  netpt_set_sync "$sync"
  must_wait 60 "net patroni healthy after the rebuild" netpt_soak_healthy
}

# ---------- redis faults ----------
netrd_crash_master() {
  local m p t; m=$(net_master_or_die); p=$(netrd_pid "$m" redis) || die "redis $m is not running"
  t=$(now_ms); signal_pids KILL "$p"
  log "net: SIGKILL redis $m (pid $p)"; echo "$m"; echo "fault_at_ms=$t"
}
netrd_hang_master() {
  local m p t; m=$(net_master_or_die); p=$(netrd_pid "$m" redis) || die "redis $m is not running"
  t=$(now_ms); signal_pids STOP "$p"
  log "net: SIGSTOP redis $m (pid $p)"; echo "$m"; echo "fault_at_ms=$t"
}
netrd_new_master_ready() { local m; m=$(net_master_node) && [[ $m != "$1" ]] && [[ "$(netrd_cli "$m" 6379 ROLE | head -n1)" == master ]]; }
netrd_failover() {
  local old n t r; old=$(net_master_or_die)
  for n in "${NET_RD[@]}"; do netrd_alive "$n" sentinel && break; done
  t=$(now_ms)
  r=$(netrd_cli "$n" 26379 SENTINEL failover haclient) || true
  [[ "$r" == OK ]] || die "SENTINEL FAILOVER on $n failed: $r"
  must_wait 30 "a new master named by the Sentinels" netrd_new_master_ready "$old"
  log "net: failover $old -> $(net_master_node) after $(( $(now_ms) - t )) ms"
  echo "old_master=$old"; echo "new_master=$(net_master_node)"; echo "fault_at_ms=$t"
}
netrd_kill_sentinel() { # the Sentinel of the first replica (the master's own Sentinel stays)
  local m n p t; m=$(net_master_or_die)
  for n in "${NET_RD[@]}"; do [[ $n != "$m" ]] && p=$(netrd_pid "$n" sentinel) && break; done
  [[ -n "${p:-}" ]] || die "no running Sentinel on a replica"
  t=$(now_ms); signal_pids KILL "$p"
  log "net: SIGKILL sentinel $n (pid $p)"; echo "$n"; echo "fault_at_ms=$t"
}

# netrd_soak_healthy : the Sentinels agree on one master (any node), each sees it up with 2 replicas and 2 other
# Sentinels, and the master serves 2 online replicas.
netrd_soak_healthy() {
  local m n a info
  m=$(net_master_node) || return 1
  for n in "${NET_RD[@]}"; do
    a=$(netrd_cli "$n" 26379 SENTINEL get-master-addr-by-name haclient | head -n1)
    [[ "$a" == "${NET_ADDR[$m]}" ]] || return 1
    netrd_cli "$n" 26379 SENTINEL master haclient | awk 'prev=="flags" {f=$0} prev=="num-other-sentinels" {s=$0} {prev=$0} END {exit !(f=="master" && s==2)}' || return 1
    (( $(netrd_cli "$n" 26379 SENTINEL replicas haclient | awk 'prev=="flags" && $0=="slave" {c++} {prev=$0} END {print c+0}') >= 2 )) || return 1
  done
  info=$(netrd_cli "$m" 6379 INFO replication | tr -d '\r')
  grep -qx 'role:master' <<<"$info" || return 1
  (( $(grep -c '^slave[0-9]*:.*state=online' <<<"$info") == 2 ))
}
# netrd_restore : cuts healed, frozen processes resumed, dead Redis nodes restarted as replicas of the master the
# Sentinels name (a dead Sentinel on its own configuration), stray masters made replicas; else the part rebuilt.
netrd_restore() {
  local n m pids
  for n in "${NET_RD[@]}"; do net_heal "$n" >/dev/null; done
  mapfile -t pids < <(net_pids "${NET_RD[@]}"); signal_pids CONT "${pids[@]}"
  if ! wait_for 20 "the Sentinels name a master" net_master_node; then
    log "repaired: no Sentinel majority names a master; rebuilding net redis"; netrd_up; return
  fi
  m=$(net_master_node)
  for n in "${NET_RD[@]}"; do
    if ! netrd_alive "$n" redis || ! netrd_alive "$n" sentinel; then log "net: restarting redis/sentinel $n (master $m)"; netrd_start "$n" "$m" keep; fi
  done
  wait_for 10 "net redis healthy" netrd_soak_healthy && return 0
  m=$(net_master_node) || m=""
  for n in "${NET_RD[@]}"; do
    [[ -n $m && $n != "$m" && "$(netrd_cli "$n" 6379 ROLE | head -n1)" == master ]] || continue
    log "repaired: net redis $n is a stale master; REPLICAOF ${NET_ADDR[$m]} 6379"
    netrd_cli "$n" 6379 REPLICAOF "${NET_ADDR[$m]}" 6379 >/dev/null || true
  done
  wait_for 40 "net redis healthy" netrd_soak_healthy && return 0
  log "repaired: net redis did not converge; rebuilding it from empty data"
  netrd_up
  must_wait 30 "net redis healthy after the rebuild" netrd_soak_healthy
}

# ---------- healed checks (read-only) ----------
net_no_cuts() { local n; for n in "$@"; do [[ -f "$NET_DIR/$n.cuts" ]] && return 1; done; return 0; }
net_none_frozen() { local pids; mapfile -t pids < <(net_pids "$@"); [[ -z "$(frozen_pids "${pids[@]}")" ]]; }
net_healed_pg() { net_no_cuts etcd "${NET_PT[@]}" && net_none_frozen etcd "${NET_PT[@]}" && netpt_soak_healthy; }
net_healed_redis() { net_no_cuts "${NET_RD[@]}" && net_none_frozen "${NET_RD[@]}" && netrd_soak_healthy; }

net_patroni_main() {
  local verb=${1:-}; shift || true
  case "$verb" in
    sync) netpt_set_sync "${1:-true}" ;;
    crash-leader) netpt_crash_leader ;;
    kill-postmaster) netpt_kill_postmaster ;;
    hang-leader) netpt_hang_leader ;;
    resume) net_resume etcd "${NET_PT[@]}" ;;
    lag) netpt_lag ;;
    unlag) netpt_unlag ;;
    switchover) netpt_switchover ;;
    restore) netpt_restore ;;
    *) die "unknown net patroni verb '$verb' (sync true|false|crash-leader|kill-postmaster|hang-leader|resume|lag|unlag|switchover|restore)" ;;
  esac
}
net_redis_main() {
  local verb=${1:-}; shift || true
  case "$verb" in
    crash-master) netrd_crash_master ;;
    hang-master) netrd_hang_master ;;
    resume) net_resume "${NET_RD[@]}" ;;
    failover) netrd_failover ;;
    kill-sentinel) netrd_kill_sentinel ;;
    restore) netrd_restore ;;
    *) die "unknown net redis verb '$verb' (crash-master|hang-master|resume|failover|kill-sentinel|restore)" ;;
  esac
}
