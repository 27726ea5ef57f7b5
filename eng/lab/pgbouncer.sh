# shellcheck shell=bash
# One PgBouncer 1.18 (Debian `pgbouncer`) in front of every lab node, in transaction pooling mode, 127.0.0.1 only:
#   plain PG    n1/n2/n3 15432-15434  <-  PgBouncer 15452-15454 (bn1/bn2/bn3)
#   Patroni PG  p1/p2/p3 15442-15444  <-  PgBouncer 15462-15464 (bp1/bp2/bp3)
# Each runs as the postgres OS user (PgBouncer refuses root) from its own config under /tmp/haclient-lab/pgbouncer.
# Auth matches the lab's servers: SCRAM-SHA-256 from the client, and the pooler logs in to its server with the plain
# password from its auth_file (the lab's own haclient/haclient-lab-pw). Sourced by eng/lab.sh.

PB_DIR=$LAB_ROOT/pgbouncer
PB_NAMES=(bn1 bn2 bn3 bp1 bp2 bp3)
declare -A PB_PORT=([bn1]=15452 [bn2]=15453 [bn3]=15454 [bp1]=15462 [bp2]=15463 [bp3]=15464)
declare -A PB_SERVER=([bn1]=15432 [bn2]=15433 [bn3]=15434 [bp1]=15442 [bp2]=15443 [bp3]=15444)
PKGS_PGBOUNCER=(pgbouncer)

pb_pid() {
  local pid; pid=$(read_pid "$PB_DIR/$1.pid")
  pid_alive "$pid" "$PB_DIR/$1.ini" && echo "$pid"
}

# pb_accepts NAME : the pooler completes a TCP connect.
pb_accepts() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/${PB_PORT[$1]}" 2>/dev/null; }

# pb_server_answers NAME : a statement through the pooler reaches its server (prints t/f for pg_is_in_recovery).
pb_sql() {
  PGPASSWORD=$LAB_PW PGCONNECT_TIMEOUT=2 timeout 5 "$PGBIN/psql" -X -A -t -q -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "${PB_PORT[$1]}" -U haclient -d haclient -c "$2" 2>/dev/null
}

pb_write_conf() {
  local n=$1
  cat > "$PB_DIR/$n.ini.new" <<INI
; written by eng/lab.sh (eng/lab/pgbouncer.sh); pooler $n in front of 127.0.0.1:${PB_SERVER[$n]}
[databases]
* = host=127.0.0.1 port=${PB_SERVER[$n]}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${PB_PORT[$n]}
unix_socket_dir =
pidfile = $PB_DIR/$n.pid
logfile = $PB_DIR/$n.log
auth_type = scram-sha-256
auth_file = $PB_DIR/userlist.txt
admin_users = haclient
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 25
max_db_connections = 50
; Npgsql does not send it, but psql and other drivers may.
ignore_startup_parameters = extra_float_digits
; Fail fast towards a server that is gone, and retry it soon after: the lab's failovers take seconds, and the
; defaults (15 s login retry, 120 s query wait) would hold clients long after the server is back or gone.
server_connect_timeout = 2
server_login_retry = 1
query_wait_timeout = 10
server_check_delay = 1
log_connections = 0
log_disconnections = 0
INI
  if cmp -s "$PB_DIR/$n.ini.new" "$PB_DIR/$n.ini"; then rm -f "$PB_DIR/$n.ini.new"; return 1; fi
  mv "$PB_DIR/$n.ini.new" "$PB_DIR/$n.ini"
  chown postgres:postgres "$PB_DIR/$n.ini"
  return 0
}

pb_start() {
  local n=$1 changed=0 pid
  pb_write_conf "$n" && changed=1
  pid=$(pb_pid "$n" || true)
  if [[ -n "$pid" ]]; then
    signal_pids CONT "$pid"
    if ((changed)); then log "pgbouncer $n: config changed; reloading"; signal_pids HUP "$pid"; fi
    return 0
  fi
  rm -f "$PB_DIR/$n.pid"
  log "starting pgbouncer $n (127.0.0.1:${PB_PORT[$n]} -> ${PB_SERVER[$n]})"
  # -d: daemon (writes its pid file). fd 9 (the lab lock) is not inherited.
  runuser -u postgres -- pgbouncer -d -q "$PB_DIR/$n.ini" </dev/null 9>&- >>"$PB_DIR/$n.start.log" 2>&1 \
    || { tail -n 5 "$PB_DIR/$n.log" >&2 2>/dev/null || true; die "pgbouncer $n failed to start (see $PB_DIR/$n.log)"; }
}

pb_up() {
  ensure_packages "${PKGS_PGBOUNCER[@]}"
  ensure_lab_root
  ensure_dir "$PB_DIR" postgres:postgres
  chmod 700 "$PB_DIR"
  printf '"haclient" "%s"\n' "$LAB_PW" > "$PB_DIR/userlist.txt"
  chown postgres:postgres "$PB_DIR/userlist.txt"; chmod 600 "$PB_DIR/userlist.txt"
  local n
  for n in "${PB_NAMES[@]}"; do pb_start "$n"; done
  # A pooler left paused by a test or drill is resumed (RESUME on one that is not paused is refused: ignored).
  for n in "${PB_NAMES[@]}"; do pb_accepts "$n" && { pb_admin "$n" "RESUME" >/dev/null 2>&1 || true; }; done
  for n in "${PB_NAMES[@]}"; do must_wait 10 "pgbouncer $n accepts on ${PB_PORT[$n]}" pb_accepts "$n"; done
  log "pgbouncer up: ${PB_NAMES[*]} on 15452-15454 (plain) and 15462-15464 (patroni), transaction mode"
}

pb_down() {
  local n pid pids=()
  for n in "${PB_NAMES[@]}"; do
    pid=$(pb_pid "$n" || true)
    [[ -n "$pid" ]] && pids+=("$pid")
  done
  if ((${#pids[@]})); then
    signal_pids CONT "${pids[@]}"
    # SIGINT: safe shutdown without waiting for clients (SIGTERM would wait for every client to leave).
    signal_pids INT "${pids[@]}"
    wait_gone 10 "${pids[@]}" || { signal_pids KILL "${pids[@]}"; wait_gone 5 "${pids[@]}" || true; }
  fi
  rm -f "$PB_DIR"/*.pid
  return 0
}

pb_status() {
  local n pid st
  for n in "${PB_NAMES[@]}"; do
    pid=$(pb_pid "$n" || true)
    if [[ -z "$pid" ]]; then echo "pgbouncer $n port=${PB_PORT[$n]} server=${PB_SERVER[$n]} state=down"; continue; fi
    st=$(pb_sql "$n" 'SELECT pg_is_in_recovery()' || true)
    case "$st" in
      f) st="server=primary" ;; t) st="server=replica" ;; *) st="server=unreachable" ;;
    esac
    echo "pgbouncer $n port=${PB_PORT[$n]} server=${PB_SERVER[$n]} state=running $st"
  done
}

# pb_leftovers : a pooler that `up` would start (only once the lab has been up: the directory exists).
pb_leftovers() {
  [[ -d "$PB_DIR" ]] || return 0
  local n
  for n in "${PB_NAMES[@]}"; do
    [[ -n "$(pb_pid "$n" || true)" ]] || echo "pgbouncer $n is down"
    [[ -n "$(frozen_pids "$(pb_pid "$n" || true)")" ]] && echo "pgbouncer $n is frozen (SIGSTOP)"
  done
  return 0
}

# pb_admin NAME SQL : a command on the pooler's admin console (database pgbouncer, admin_users = haclient).
pb_admin() {
  PGPASSWORD=$LAB_PW PGCONNECT_TIMEOUT=2 timeout 10 "$PGBIN/psql" -X -A -t -q -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "${PB_PORT[$1]}" -U haclient -d pgbouncer -c "$2"
}

# pb_pause NAME : the pooler keeps accepting clients but lends them no server connection (PAUSE): a pooler that
# cannot reach its server, while the server itself answers. Prints NAME, then fault_at_ms.
pb_pause() {
  local n=${1:-}
  [[ -n "$n" && -n "${PB_PORT[$n]:-}" ]] || die "pgbouncer pause needs one of: ${PB_NAMES[*]}"
  [[ -n "$(pb_pid "$n" || true)" ]] || die "pgbouncer $n is not running"
  local at; at=$(now_ms)
  pb_admin "$n" "PAUSE" >/dev/null || die "PAUSE on pgbouncer $n failed"
  echo "$n"
  echo "fault_at_ms=$at"
}

# pb_resume : RESUME every paused pooler and thaw any frozen one.
pb_resume() {
  local n pid
  for n in "${PB_NAMES[@]}"; do
    pid=$(pb_pid "$n" || true)
    [[ -n "$pid" ]] || continue
    signal_pids CONT "$pid"
    pb_admin "$n" "RESUME" >/dev/null 2>&1 || true
  done
  echo "fault_at_ms=$(now_ms)"
}

pgbouncer_main() {
  local verb=${1:-}; shift || true
  case "$verb" in
    up) ensure_root; pb_up ;;
    down) pb_down ;;
    reset) pb_down; pb_up ;;
    status) pb_status ;;
    leftovers) pb_leftovers ;;
    pause) pb_pause "$@" ;;
    resume) pb_resume ;;
    *) die "unknown pgbouncer verb '$verb' (up|down|reset|status|pause NAME|resume)" ;;
  esac
}
