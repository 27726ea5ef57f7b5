# shellcheck shell=bash
# Patroni 3.0 + etcd 3.4: p1..p3, PostgreSQL 15442-15444, REST 18008-18010, etcd 12379/12380.

PT_DIR=$LAB_ROOT/patroni
PT_SOCK=$PT_DIR/sock
ETCD_DIR=$LAB_ROOT/etcd
ETCD_CLIENT=127.0.0.1:12379
ETCD_PEER=127.0.0.1:12380
PT_NODES=(p1 p2 p3)
declare -A PT_PGPORT=([p1]=15442 [p2]=15443 [p3]=15444)
declare -A PT_API=([p1]=18008 [p2]=18009 [p3]=18010)
PATRONI_BIN=/usr/bin/patroni
PATRONICTL_BIN=/usr/bin/patronictl
PT_REPL_PW=replicator-lab-pw
PT_SUPER_PW=postgres-lab-pw

# ---------- etcd ----------
etcd_pid() { local p; p=$(read_pid "$ETCD_DIR/etcd.pid"); pid_alive "$p" "$ETCD_DIR/data" && echo "$p"; }
etcd_healthy() { ETCDCTL_API=3 timeout 3 etcdctl --endpoints="http://$ETCD_CLIENT" --command-timeout=2s endpoint health >/dev/null 2>&1; }
etcd_start() {
  ensure_dir "$ETCD_DIR" root:root
  if [[ -z "$(etcd_pid || true)" ]]; then
    local state=new
    [[ -d "$ETCD_DIR/data/member" ]] && state=existing
    log "starting etcd on $ETCD_CLIENT"
    setsid sh -c 'echo $$ > "$0"; exec "$@"' "$ETCD_DIR/etcd.pid" \
      etcd --name lab --data-dir "$ETCD_DIR/data" \
      --listen-client-urls "http://$ETCD_CLIENT" --advertise-client-urls "http://$ETCD_CLIENT" \
      --listen-peer-urls "http://$ETCD_PEER" --initial-advertise-peer-urls "http://$ETCD_PEER" \
      --initial-cluster "lab=http://$ETCD_PEER" --initial-cluster-state "$state" \
      --initial-cluster-token haclient-lab \
      </dev/null 9>&- >>"$ETCD_DIR/etcd.log" 2>&1 &
  fi
  wait_for 20 "etcd healthy" etcd_healthy || { tail -n 20 "$ETCD_DIR/etcd.log" >&2 || true; die "etcd did not become healthy"; }
}
etcd_stop() {
  local p; p=$(etcd_pid || true)
  [[ -n "$p" ]] || return 0
  signal_pids CONT "$p"; signal_pids TERM "$p"
  wait_gone 10 "$p" || { signal_pids KILL "$p"; wait_gone 5 "$p" || true; }
}

# ---------- patroni processes ----------
pt_cfg() { echo "$PT_DIR/$1.yml"; }
pt_data() { echo "$PT_DIR/$1"; }
pt_pid() { local p; p=$(read_pid "$PT_DIR/$1.pid"); pid_alive "$p" "$(pt_cfg "$1")" && echo "$p"; }
pt_pm_pid() { local p; p=$(read_pid "$PT_DIR/$1/postmaster.pid"); pid_alive "$p" "$PT_DIR/$1" && echo "$p"; }
pt_node_pids() { # patroni + postmaster trees of a node
  local a b; a=$(pt_pid "$1" || true); b=$(pt_pm_pid "$1" || true)
  local roots=(); [[ -n "$a" ]] && roots+=("$a"); [[ -n "$b" ]] && roots+=("$b")
  ((${#roots[@]})) && proc_tree "${roots[@]}"
  return 0
}

pt_write_cfg() {
  local n=$1 sync=${2:-false}
  cat > "$(pt_cfg "$n")" <<YML
# written by eng/lab.sh
scope: haclient
namespace: /service/
name: $n
log:
  level: INFO
restapi:
  listen: 127.0.0.1:${PT_API[$n]}
  connect_address: 127.0.0.1:${PT_API[$n]}
etcd3:
  hosts: $ETCD_CLIENT
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 4
    maximum_lag_on_failover: 1099511627776
    primary_start_timeout: 0
    synchronous_mode: $sync
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: 'on'
        max_wal_senders: 10
        max_replication_slots: 10
        wal_keep_size: 256MB
        wal_log_hints: 'on'
        hot_standby_feedback: 'on'
        shared_buffers: 32MB
        max_connections: 200
        password_encryption: scram-sha-256
        wal_retrieve_retry_interval: 1s
        logging_collector: 'on'
        log_directory: log
        log_filename: postgresql.log
        log_line_prefix: '%m [%p] %q%u@%d '
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - auth-local: trust
    - auth-host: scram-sha-256
postgresql:
  listen: 127.0.0.1:${PT_PGPORT[$n]}
  connect_address: 127.0.0.1:${PT_PGPORT[$n]}
  data_dir: $PT_DIR/$n
  bin_dir: $PGBIN
  pgpass: $PT_DIR/$n.pgpass
  use_unix_socket: true
  use_pg_rewind: true
  remove_data_directory_on_rewind_failure: true
  remove_data_directory_on_diverged_timelines: true
  authentication:
    superuser:
      username: postgres
      password: $PT_SUPER_PW
    replication:
      username: replicator
      password: $PT_REPL_PW
  parameters:
    unix_socket_directories: $PT_SOCK
  basebackup:
    - checkpoint: fast
  pg_hba:
    - local all postgres trust
    - local replication postgres trust
    - host all all 127.0.0.1/32 scram-sha-256
    - host replication all 127.0.0.1/32 scram-sha-256
YML
  chown postgres:postgres "$(pt_cfg "$n")"
  chmod 600 "$(pt_cfg "$n")"
}

pt_start() {
  local n=$1
  [[ -n "$(pt_pid "$n" || true)" ]] && return 0
  log "starting patroni $n (pg ${PT_PGPORT[$n]}, rest ${PT_API[$n]})"
  touch "$PT_DIR/$n.log" "$PT_DIR/$n.pid"; chown postgres:postgres "$PT_DIR/$n.log" "$PT_DIR/$n.pid"
  setsid setpriv --reuid=postgres --regid=postgres --init-groups --reset-env \
    sh -c 'echo $$ > "$0"; exec "$@"' "$PT_DIR/$n.pid" "$PY" "$PATRONI_BIN" "$(pt_cfg "$n")" \
    </dev/null 9>&- >>"$PT_DIR/$n.log" 2>&1 &
  disown $! 2>/dev/null || true   # no "Killed" job notice when a rebuild kills it
}

# ---------- REST / SQL helpers ----------
pt_api_get() { curl -fsS -m 1 "http://127.0.0.1:${PT_API[$1]}$2" 2>/dev/null; }

# pt_cluster : /cluster JSON from the first node that answers
pt_cluster() {
  local n j
  for n in "${PT_NODES[@]}"; do
    j=$(pt_api_get "$n" /cluster) && [[ -n "$j" ]] && { echo "$j"; return 0; }
  done
  return 1
}

# pt_cluster_field EXPR : evaluate python EXPR with c = /cluster JSON
pt_py() { "$PY" -c "import json,sys; c=json.load(sys.stdin); $1"; }
pt_leader() { pt_cluster | pt_py "
l=[m['name'] for m in c.get('members',[]) if m.get('role') in ('leader','master','standby_leader')]
print(l[0]) if l else sys.exit(1)"; }

pt_sql() { # pt_sql NODE SQL
  PGCONNECT_TIMEOUT=2 timeout 5 runuser -u postgres -- "$PGBIN/psql" -X -A -t -q -v ON_ERROR_STOP=1 \
    -h "$PT_SOCK" -p "${PT_PGPORT[$1]}" -U postgres -d postgres -c "$2" 2>/dev/null
}
pt_writable() { [[ -n "$(pt_sql "$1" 'SELECT txid_current()')" ]]; }
pt_leader_writable() { local l; l=$(pt_leader) && pt_writable "$l"; }
pt_streaming() { pt_sql "$1" "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"; }

# healthy: 3 members all running, one leader (writable), leader shows 2 streaming; $1=true -> also a sync standby
pt_healthy() {
  local want_sync=${1:-false} l
  pt_cluster | pt_py "
m=c.get('members',[])
ok = len(m)==3 and all(x.get('state') in ('running','streaming') for x in m) \
     and sum(1 for x in m if x.get('role') in ('leader','master'))==1
if '$want_sync'=='true': ok = ok and any(x.get('role') in ('sync_standby',) for x in m)
sys.exit(0 if ok else 1)" || return 1
  l=$(pt_leader) || return 1
  pt_writable "$l" || return 1
  [[ "$(pt_streaming "$l")" == 2 ]] || return 1
  if [[ "$want_sync" == true ]]; then
    [[ "$(pt_sql "$l" "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'")" -ge 1 ]] || return 1
  fi
}

pt_sync_mode() { # current synchronous_mode from DCS config: true/false
  local n j
  for n in "${PT_NODES[@]}"; do
    j=$(pt_api_get "$n" /config) || continue
    echo "$j" | pt_py "print('true' if c.get('synchronous_mode') else 'false')"; return 0
  done
  return 1
}
pt_set_sync_mode() {
  local want=$1 n cur
  cur=$(pt_sync_mode) || die "cannot read patroni /config"
  [[ "$cur" == "$want" ]] && return 0
  log "setting synchronous_mode: $want"
  for n in "${PT_NODES[@]}"; do
    curl -fsS -m 5 -X PATCH -H 'Content-Type: application/json' \
      -d "{\"synchronous_mode\": $want}" "http://127.0.0.1:${PT_API[$n]}/config" >/dev/null 2>&1 && return 0
  done
  die "PATCH /config synchronous_mode=$want failed"
}

pt_ensure_role_db() {
  local l=$1
  pt_sql "$l" "DO \$\$BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'haclient') THEN
        CREATE ROLE haclient LOGIN SUPERUSER PASSWORD '$LAB_PW';
      END IF; END\$\$" >/dev/null || die "could not create role haclient on $l"
  if [[ "$(pt_sql "$l" "SELECT 1 FROM pg_database WHERE datname = 'haclient'")" != 1 ]]; then
    pt_sql "$l" "CREATE DATABASE haclient OWNER haclient" >/dev/null || die "could not create database haclient on $l"
  fi
}

# pt_rebuild_member N : kills node N (Patroni, postmaster, backends), wipes its data and starts Patroni again, which
# bootstraps it from the current leader (pg_basebackup, checkpoint: fast).
pt_rebuild_member() {
  local n=$1 pids
  mapfile -t pids < <(pt_node_pids "$n")
  if ((${#pids[@]})); then
    signal_pids CONT "${pids[@]}"; signal_pids KILL "${pids[@]}"
    wait_gone 10 "${pids[@]}" || true
  fi
  rm -rf "${PT_DIR:?}/$n"
  pt_start "$n"
}

# pt_rebuild_stuck : every member that does not stream from the leader (stuck in `starting`, on a diverged timeline,
# crashed and not restarted) is rebuilt from the leader. Patroni 3.0.2's own repair (POST /reinitialize) can time out
# on exactly these members, so the lab does not ask it.
pt_rebuild_stuck() {
  local l n state
  l=$(pt_leader) || return 0
  for n in "${PT_NODES[@]}"; do
    [[ "$n" == "$l" ]] && continue
    if [[ "$(pt_sql "$l" "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND application_name = '$n'")" != 1 ]]; then
      state=$(pt_cluster | pt_py "
print(next(('state=%s timeline=%s' % (m.get('state'), m.get('timeline','?')) for m in c.get('members',[]) if m['name']=='$n'), 'absent from the DCS'))" || echo unknown)
      log "repaired: patroni $n was not streaming from leader $l ($state); rebuilt it from the leader"
      pt_rebuild_member "$n"
    fi
  done
}

pt_resume_all() { # pt_resume_all [--say] : SIGCONT every member and etcd; with --say, log the ones that were frozen
  local n pids=() tree e
  for n in "${PT_NODES[@]}"; do
    mapfile -t tree < <(pt_node_pids "$n")
    if [[ "${1:-}" == --say && -n "$(frozen_pids "${tree[@]}")" ]]; then log "repaired: patroni $n was frozen; resumed it"; fi
    pids+=("${tree[@]}")
  done
  e=$(etcd_pid || true)
  if [[ -n "$e" ]]; then
    [[ "${1:-}" == --say && -n "$(frozen_pids "$e")" ]] && log "repaired: etcd was frozen; resumed it"
    pids+=("$e")
  fi
  signal_pids CONT "${pids[@]}"
}

# pt_leftovers : one line per state that `patroni up` would have to repair.
pt_leftovers() {
  local n tree e l any=0
  [[ -d "$PT_DIR" ]] || return 0
  for n in "${PT_NODES[@]}"; do
    [[ -d "$PT_DIR/$n" ]] && any=1
    mapfile -t tree < <(pt_node_pids "$n")
    [[ -n "$(frozen_pids "${tree[@]}")" ]] && echo "patroni $n is frozen (SIGSTOP)"
  done
  ((any)) || return 0
  e=$(etcd_pid || true)
  if [[ -z "$e" ]]; then echo "etcd is down"; return 0; fi
  [[ -n "$(frozen_pids "$e")" ]] && { echo "etcd is frozen (SIGSTOP)"; return 0; }
  if ! l=$(pt_leader); then echo "patroni has no leader"; return 0; fi
  pt_writable "$l" || echo "patroni leader $l does not accept writes"
  pt_cluster | pt_py "
for m in c.get('members',[]):
    if m.get('role') not in ('leader','master') and m.get('state') not in ('running','streaming'):
        print('patroni %s is %s (timeline %s)' % (m['name'], m.get('state'), m.get('timeline','?')))
names={m['name'] for m in c.get('members',[])}
for n in ('p1','p2','p3'):
    if n not in names: print('patroni %s is absent from the DCS' % n)" || true
  for n in "${PT_NODES[@]}"; do
    [[ "$n" == "$l" ]] && continue
    [[ "$(pt_sql "$l" "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND application_name = '$n'")" == 1 ]] \
      || echo "patroni $n is not streaming from leader $l"
  done
  return 0
}

# ---------- verbs ----------
# pt_up MODE : MODE = true | false (synchronous_mode) | keep
pt_up() {
  local mode=$1 n t0 l
  ensure_root; ensure_packages "${PKGS_PATRONI[@]}"
  [[ -x "$PATRONI_BIN" ]] || die "$PATRONI_BIN not found"
  ensure_lab_root
  ensure_dir "$PT_DIR" postgres:postgres
  ensure_dir "$PT_SOCK" postgres:postgres
  t0=$(now_ms)
  pt_resume_all --say
  etcd_start
  local boot_sync=false; [[ "$mode" == true ]] && boot_sync=true
  for n in "${PT_NODES[@]}"; do pt_write_cfg "$n" "$boot_sync"; done
  for n in "${PT_NODES[@]}"; do pt_start "$n"; done
  # A healthy cluster (or a fresh bootstrap) has a writable leader within ~ttl; a leftover one whose members keep
  # "restarting after failure" never does, and is rebuilt by `converge`.
  if ! wait_for 30 "a patroni leader accepting writes" pt_leader_writable; then
    tail -n 15 "$PT_DIR"/p?.log >&2 || true
    die "patroni: no writable leader"
  fi
  l=$(pt_leader)
  pt_ensure_role_db "$l"
  # The mode just set is the one to wait for: reading it back from /config can still return the old value.
  local want_sync
  if [[ "$mode" == keep ]]; then want_sync=$(pt_sync_mode || echo false); else pt_set_sync_mode "$mode"; want_sync=$mode; fi
  if ! wait_for 20 "3 patroni members running, 2 streaming replicas (sync=$want_sync)" pt_healthy "$want_sync"; then
    # Patroni 3.0.2 does not repair a replica whose timeline is ahead of the leader's (e.g. it began a
    # promotion and lost the key to a resumed old leader), nor one stuck in `starting`: rebuild those.
    pt_rebuild_stuck
    if ! wait_for 60 "3 patroni members running, 2 streaming replicas (sync=$want_sync)" pt_healthy "$want_sync"; then
      pt_status >&2 || true
      die "patroni cluster not healthy"
    fi
  fi
  log "patroni up: leader=$(pt_leader) synchronous_mode=$want_sync ($(( $(now_ms) - t0 )) ms)"
}

pt_down() {
  local n pids=() p
  pt_resume_all
  for n in "${PT_NODES[@]}"; do p=$(pt_pid "$n" || true); [[ -n "$p" ]] && pids+=("$p"); done
  if ((${#pids[@]})); then
    signal_pids TERM "${pids[@]}"
    wait_gone 30 "${pids[@]}" || true
  fi
  # anything left (patroni or postmaster trees): kill it
  pids=()
  for n in "${PT_NODES[@]}"; do mapfile -t -O "${#pids[@]}" pids < <(pt_node_pids "$n"); done
  if ((${#pids[@]})); then
    log "killing leftover patroni/postgres processes: ${pids[*]}"
    signal_pids KILL "${pids[@]}"
    wait_gone 10 "${pids[@]}" || true
  fi
  etcd_stop
  log "patroni down"
}

pt_reset() {
  ensure_root
  ( pt_down ) || true
  rm -rf "${PT_DIR:?}" "${ETCD_DIR:?}"
  pt_up "$1"
}

pt_status() {
  local j
  if etcd_healthy; then echo "etcd $ETCD_CLIENT state=healthy"; else echo "etcd $ETCD_CLIENT state=down"; fi
  if ! j=$(pt_cluster); then
    local n
    for n in "${PT_NODES[@]}"; do
      if [[ -n "$(pt_pid "$n" || true)" ]]; then echo "$n state=not-answering"; else echo "$n state=down"; fi
    done
    return 0
  fi
  echo "$j" | pt_py "
names={m['name'] for m in c.get('members',[])}
for m in sorted(c.get('members',[]), key=lambda x: x['name']):
    print('%s role=%s state=%s timeline=%s lag=%s host=%s:%s' % (m['name'], m.get('role'), m.get('state'),
          m.get('timeline','?'), m.get('lag', 0 if m.get('role') in ('leader','master') else '?'), m.get('host'), m.get('port')))
for n in ('p1','p2','p3'):
    if n not in names: print('%s state=absent-from-dcs' % n)"
  echo "synchronous_mode=$(pt_sync_mode || echo unknown)"
}

pt_current_leader() { pt_leader || die "no patroni leader found"; }

pt_crash_leader() {
  local l pp pm pids t
  l=$(pt_current_leader)
  pp=$(pt_pid "$l" || true); pm=$(pt_pm_pid "$l" || true)
  [[ -n "$pp$pm" ]] || die "no processes found for $l"
  t=$(now_ms)
  # shellcheck disable=SC2086
  signal_pids STOP $pp $pm
  mapfile -t pids < <(pt_node_pids "$l")
  signal_pids KILL "${pids[@]}"
  log "SIGKILL $l: patroni=${pp:-none} postmaster=${pm:-none} (${#pids[@]} processes, $(( $(now_ms) - t )) ms after their SIGSTOP)"
  echo "$l"
  echo "fault_at_ms=$t"
}

pt_kill_postmaster() {
  local l pm pids t
  l=$(pt_current_leader)
  pm=$(pt_pm_pid "$l") || die "no postmaster for $l"
  t=$(now_ms)
  signal_pids STOP "$pm"
  mapfile -t pids < <(proc_tree "$pm")
  signal_pids KILL "${pids[@]}"
  log "SIGKILL $l postmaster $pm and backends (${#pids[@]} processes)"
  echo "$l"
  echo "fault_at_ms=$t"
}

pt_hang_leader() {
  local l pp pm pids t
  l=$(pt_current_leader)
  pp=$(pt_pid "$l" || true); pm=$(pt_pm_pid "$l" || true)
  t=$(now_ms)
  # shellcheck disable=SC2086
  signal_pids STOP $pp $pm
  mapfile -t pids < <(pt_node_pids "$l")
  signal_pids STOP "${pids[@]}"
  log "SIGSTOP $l: patroni=${pp:-none} postmaster=${pm:-none} (${#pids[@]} processes)"
  echo "$l"
  echo "fault_at_ms=$t"
}

pt_resume() {
  local t; t=$(now_ms)
  pt_resume_all
  log "SIGCONT all lab patroni/postgres/etcd processes"
  echo "fault_at_ms=$t"
}

pt_switchover() {
  local l c t body code
  l=$(pt_current_leader)
  c=$(pt_cluster | patroni_switchover_candidate) || die "no healthy switchover candidate"
  t=$(now_ms)
  body=$(patroni_post_switchover "http://127.0.0.1:${PT_API[$l]}" "$l" "$c")
  [[ "$body" == 200 ]] || die "switchover $l -> $c failed (HTTP $body)"
  wait_for 30 "$c leader and writable" eval '[[ "$(pt_leader)" == "$c" ]] && pt_writable "$c"' \
    || die "switchover: $c did not become a writable leader"
  log "switchover $l -> $c: new leader writable after $(( $(now_ms) - t )) ms"
  # let Patroni finish the promotion and the old leader rejoin before the next fault is injected
  local want_sync; want_sync=$(pt_sync_mode || echo false)
  wait_for 30 "cluster healthy after switchover" pt_healthy "$want_sync" \
    || die "switchover: cluster not healthy 30 s after switchover"
  log "switchover $l -> $c: cluster healthy after $(( $(now_ms) - t )) ms"
  echo "old_leader=$l"
  echo "new_leader=$c"
  echo "fault_at_ms=$t"
}

pt_main() {
  local verb=${1:-}; shift || true
  local sync=false
  [[ "${1:-}" == --sync ]] && sync=true
  case "$verb" in
    up) converge patroni "pt_up $sync" "pt_reset $sync" ;;
    down) pt_down ;;
    reset) pt_reset "$sync" ;;
    status) pt_status ;;
    leftovers) pt_leftovers ;;
    crash-leader) pt_crash_leader ;;
    kill-postmaster) pt_kill_postmaster ;;
    hang-leader) pt_hang_leader ;;
    resume) pt_resume ;;
    switchover) pt_switchover ;;
    restore) local m; m=$(pt_sync_mode 2>/dev/null || echo false)
             converge patroni "pt_up keep" "pt_reset $m" ;;
    *) die "unknown patroni verb '$verb' (up [--sync]|down|reset [--sync]|status|crash-leader|kill-postmaster|hang-leader|resume|switchover|restore)" ;;
  esac
}
patroni_main() { pt_main "$@"; }
