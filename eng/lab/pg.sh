# shellcheck shell=bash
# Plain streaming replication: n1 (initial primary) 15432, n2 15433, n3 15434.

PG_DIR=$LAB_ROOT/pg
PG_SOCK=$PG_DIR/sock
PG_NODES=(n1 n2 n3)
declare -A PG_PORT=([n1]=15432 [n2]=15433 [n3]=15434)

pg_data() { echo "$PG_DIR/$1"; }
pg_exists() { [[ -f "$PG_DIR/$1/PG_VERSION" ]]; }
pg_pm_pid() {
  local pid; pid=$(read_pid "$PG_DIR/$1/postmaster.pid")
  pid_alive "$pid" "$PG_DIR/$1" && echo "$pid"
}
pg_running() { [[ -n "$(pg_pm_pid "$1" || true)" ]]; }

# pg_sql NODE SQL : run SQL as postgres over the unix socket; bounded in time.
pg_sql() {
  PGCONNECT_TIMEOUT=2 timeout 5 runuser -u postgres -- "$PGBIN/psql" -X -A -t -q -v ON_ERROR_STOP=1 \
    -h "$PG_SOCK" -p "${PG_PORT[$1]}" -U postgres -d postgres -c "$2" 2>/dev/null
}

pg_in_recovery() { pg_sql "$1" 'SELECT pg_is_in_recovery()'; }   # prints t / f
pg_is_primary() { [[ "$(pg_in_recovery "$1")" == f ]]; }
pg_is_replica() { [[ "$(pg_in_recovery "$1")" == t ]]; }
pg_accepts() { [[ -n "$(pg_in_recovery "$1")" ]]; }

pg_timeline() { # current timeline of a primary
  local f; f=$(pg_sql "$1" 'SELECT pg_walfile_name(pg_current_wal_lsn())') || return 1
  echo $((16#${f:0:8}))
}

pg_write_conf() {
  local n=$1 d; d=$(pg_data "$1")
  cat > "$d/lab.conf" <<CONF
# written by eng/lab.sh on every 'pg up'; node specific
listen_addresses = '127.0.0.1'
port = ${PG_PORT[$n]}
cluster_name = '$n'
unix_socket_directories = '$PG_SOCK'
wal_level = replica
hot_standby = on
max_wal_senders = 10
max_replication_slots = 10
wal_keep_size = '256MB'
hot_standby_feedback = on
wal_log_hints = on
shared_buffers = '32MB'
max_connections = 200
wal_retrieve_retry_interval = '1s'
password_encryption = 'scram-sha-256'
log_line_prefix = '%m [%p] %q%u@%d '
CONF
  cat > "$d/pg_hba.conf" <<HBA
# written by eng/lab.sh
local   all             postgres                                trust
local   replication     postgres                                trust
host    all             all             127.0.0.1/32            scram-sha-256
host    replication     all             127.0.0.1/32            scram-sha-256
HBA
  grep -q "^include_if_exists = 'lab.conf'" "$d/postgresql.conf" \
    || echo "include_if_exists = 'lab.conf'" >> "$d/postgresql.conf"
  chown postgres:postgres "$d/lab.conf" "$d/pg_hba.conf" "$d/postgresql.conf"
}

pg_start() {
  local n=$1 d; d=$(pg_data "$1")
  pg_running "$n" && return 0
  # a just-killed postmaster may linger for a moment; postgres refuses to start while its pid exists
  local old; old=$(read_pid "$d/postmaster.pid")
  [[ -n "$old" ]] && wait_gone 10 "$old"
  pg_write_conf "$n"
  log "starting $n (port ${PG_PORT[$n]})"
  as_pg "$PGBIN/pg_ctl" start -D "$d" -l "$d/postgresql.log" -w -t 30 -s </dev/null 9>&- >&2 \
    || { tail -n 20 "$d/postgresql.log" >&2 || true; die "could not start $n"; }
}

pg_kill_node() { # SIGKILL the whole node (postmaster + all children)
  local pid; pid=$(pg_pm_pid "$1" || true)
  [[ -n "$pid" ]] || return 0
  signal_pids STOP "$pid"
  local pids; mapfile -t pids < <(proc_tree "$pid")
  signal_pids KILL "${pids[@]}"
  wait_gone 10 "${pids[@]}" || true
}

pg_stop() {
  local n=$1 d pid; d=$(pg_data "$1")
  pid=$(pg_pm_pid "$n" || true)
  [[ -n "$pid" ]] || return 0
  # shellcheck disable=SC2046
  signal_pids CONT $(proc_tree "$pid")
  if ! as_pg "$PGBIN/pg_ctl" stop -D "$d" -m fast -w -t 15 -s >&2; then
    log "$n did not stop in 15 s; killing it"
    pg_kill_node "$n"
  fi
}

pg_initdb_primary() {
  local n=$1 d; d=$(pg_data "$1")
  log "initdb $n"
  rm -rf "$d"; ensure_dir "$d" postgres:postgres; chmod 700 "$d"
  as_pg "$PGBIN/initdb" -D "$d" -U postgres -E UTF8 --locale=C.UTF-8 -N \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null \
    || die "initdb failed for $n"
  pg_start "$n"
}

pg_ensure_role_db() {
  local n=$1
  pg_sql "$n" "DO \$\$BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'haclient') THEN
        CREATE ROLE haclient LOGIN SUPERUSER PASSWORD '$LAB_PW';
      ELSE
        ALTER ROLE haclient LOGIN SUPERUSER PASSWORD '$LAB_PW';
      END IF; END\$\$" >/dev/null || die "could not create role haclient on $n"
  if [[ "$(pg_sql "$n" "SELECT 1 FROM pg_database WHERE datname = 'haclient'")" != 1 ]]; then
    pg_sql "$n" "CREATE DATABASE haclient OWNER haclient" >/dev/null || die "could not create database haclient on $n"
  fi
}

pg_clone() { # pg_clone NODE FROM_NODE
  local n=$1 from=$2 d; d=$(pg_data "$1")
  pg_stop "$n"
  log "cloning $n from $from (pg_basebackup --checkpoint=fast)"
  rm -rf "$d"; ensure_dir "$d" postgres:postgres; chmod 700 "$d"
  PGPASSWORD=$LAB_PW timeout 60 runuser -u postgres -- "$PGBIN/pg_basebackup" \
    -h 127.0.0.1 -p "${PG_PORT[$from]}" -U haclient -D "$d" -R --checkpoint=fast -X stream -N \
    || die "pg_basebackup of $n from $from failed"
  : > "$d/postgresql.log"; chown postgres:postgres "$d/postgresql.log"
  pg_start "$n"
}

# port the replica's primary_conninfo points at
pg_upstream_port() {
  grep -h "^primary_conninfo" "$(pg_data "$1")/postgresql.auto.conf" 2>/dev/null | tail -n1 \
    | grep -o "port=[0-9]*" | head -n1 | cut -d= -f2
}

pg_streaming_count() { # number of streaming standbys on primary NODE
  pg_sql "$1" "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
}
pg_streaming_names() {
  pg_sql "$1" "SELECT string_agg(application_name, ',' ORDER BY application_name) FROM pg_stat_replication WHERE state = 'streaming'"
}
pg_replica_streams() { # pg_replica_streams PRIMARY REPLICA
  [[ "$(pg_sql "$1" "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND application_name = '$2'")" == 1 ]]
}

pg_find_primaries() { # prints running primaries
  local n
  for n in "${PG_NODES[@]}"; do
    pg_running "$n" && pg_is_primary "$n" && echo "$n"
  done
  return 0
}

pg_current_primary() { # exactly one; dies otherwise
  local p; p=$(pg_find_primaries)
  [[ -n "$p" ]] || die "no running primary found"
  (( $(wc -l <<<"$p") == 1 )) || log "warning: more than one primary: $(echo $p)"
  head -n1 <<<"$p"
}

pg_resume_all() { # pg_resume_all [--say] : end any brownout, SIGCONT every node; with --say, log the nodes that were frozen
  local n pid pids=() tree
  brownout_stop pg
  for n in "${PG_NODES[@]}"; do
    pid=$(pg_pm_pid "$n" || true)
    [[ -n "$pid" ]] || continue
    mapfile -t tree < <(proc_tree "$pid")
    if [[ "${1:-}" == --say && -n "$(frozen_pids "${tree[@]}")" ]]; then log "repaired: pg $n was frozen; resumed it"; fi
    pids+=("${tree[@]}")
  done
  signal_pids CONT "${pids[@]}"
}

pg_up() {
  ensure_root; ensure_packages "${PKGS_PG[@]}"
  ensure_lab_root
  ensure_dir "$PG_DIR" postgres:postgres
  ensure_dir "$PG_SOCK" postgres:postgres
  pg_resume_all --say
  local t0; t0=$(now_ms)
  local n any=0
  for n in "${PG_NODES[@]}"; do pg_exists "$n" && any=1; done
  if ((any == 0)); then
    pg_initdb_primary n1
  fi
  # start every node that has data
  for n in "${PG_NODES[@]}"; do
    if pg_exists "$n"; then pg_start "$n"; fi
  done
  for n in "${PG_NODES[@]}"; do
    if pg_exists "$n"; then must_wait 30 "$n accepts connections" pg_accepts "$n"; fi
  done
  # choose the primary: the only one, or the one on the highest timeline (ties: lowest name)
  local primaries primary="" best=-1 tl
  primaries=$(pg_find_primaries)
  if [[ -z "$primaries" ]]; then
    for n in "${PG_NODES[@]}"; do
      if pg_running "$n"; then
        log "repaired: pg had no primary running; promoting $n"
        pg_sql "$n" 'SELECT pg_promote(true, 30)' >/dev/null || die "promote $n failed"
        primaries=$n; break
      fi
    done
    [[ -n "$primaries" ]] || die "no node could be started"
  fi
  for n in $primaries; do
    tl=$(pg_timeline "$n") || continue
    if ((tl > best)); then best=$tl; primary=$n; fi
  done
  [[ -n "$primary" ]] || die "could not determine the primary"
  pg_ensure_role_db "$primary"
  # every other node must be a replica of the primary; otherwise rebuild it
  for n in "${PG_NODES[@]}"; do
    [[ "$n" == "$primary" ]] && continue
    if ! pg_exists "$n"; then
      pg_clone "$n" "$primary"
    elif ! pg_is_replica "$n"; then
      log "repaired: pg $n is a diverged primary; rebuilding it as a replica of $primary"
      pg_clone "$n" "$primary"
    elif [[ "$(pg_upstream_port "$n")" != "${PG_PORT[$primary]}" ]]; then
      log "repaired: pg $n follows port $(pg_upstream_port "$n"), not $primary; rebuilding it"
      pg_clone "$n" "$primary"
    fi
  done
  # wait for streaming; rebuild replicas that cannot stream (e.g. diverged timeline)
  for n in "${PG_NODES[@]}"; do
    [[ "$n" == "$primary" ]] && continue
    if [[ "$(pg_sql "$n" 'SELECT pg_is_wal_replay_paused()')" == t ]]; then
      log "repaired: pg $n had replay paused; resumed it"
      pg_sql "$n" 'SELECT pg_wal_replay_resume()' >/dev/null || true
    fi
    if ! wait_for 15 "$n streaming from $primary" pg_replica_streams "$primary" "$n"; then
      log "repaired: pg $n was not streaming from $primary within 15 s; rebuilding it"
      pg_clone "$n" "$primary"
      must_wait 30 "$n streaming from $primary" pg_replica_streams "$primary" "$n"
    fi
  done
  [[ "$(pg_streaming_count "$primary")" == 2 ]] || die "primary $primary does not show 2 streaming replicas"
  log "pg up: primary=$primary port=${PG_PORT[$primary]} streaming=$(pg_streaming_names "$primary") ($(( $(now_ms) - t0 )) ms)"
}

pg_down() {
  local n
  brownout_stop pg
  for n in "${PG_NODES[@]}"; do pg_stop "$n" & done
  wait
  for n in "${PG_NODES[@]}"; do pg_running "$n" && die "$n still running"; done
  log "pg down"
}

pg_reset() {
  ensure_root
  local n
  pg_resume_all
  if ! ( pg_down ); then
    for n in "${PG_NODES[@]}"; do pg_kill_node "$n"; done
  fi
  rm -rf "${PG_DIR:?}"
  pg_up
}

pg_status() {
  local n st role extra primary_seen=()
  for n in "${PG_NODES[@]}"; do
    if ! pg_exists "$n"; then echo "$n port=${PG_PORT[$n]} state=absent"; continue; fi
    if ! pg_running "$n"; then echo "$n port=${PG_PORT[$n]} state=down"; continue; fi
    if grep -q '^State:.*(stopped)' "/proc/$(pg_pm_pid "$n")/status" 2>/dev/null; then
      echo "$n port=${PG_PORT[$n]} state=frozen"; continue
    fi
    st=$(pg_in_recovery "$n" || true)
    case "$st" in
      f) role=primary
         extra=$(pg_sql "$n" "SELECT 'timeline=' || (('x' || substr(pg_walfile_name(pg_current_wal_lsn()),1,8))::bit(32)::int) || ' lsn=' || pg_current_wal_lsn()")
         primary_seen+=("$n");;
      t) role=replica
         extra=$(pg_sql "$n" "SELECT 'replay_lsn=' || pg_last_wal_replay_lsn() || ' replay_paused=' || pg_is_wal_replay_paused() || ' upstream_port=' || coalesce((SELECT sender_port::text FROM pg_stat_wal_receiver),'none') || ' receiver=' || coalesce((SELECT status FROM pg_stat_wal_receiver),'none')");;
      *) role=unknown; extra="(not answering)";;
    esac
    echo "$n port=${PG_PORT[$n]} state=running role=$role $extra"
  done
  for n in "${primary_seen[@]}"; do
    pg_sql "$n" "SELECT '  $n -> ' || application_name || ' state=' || state || ' sync=' || sync_state || ' replay_lag_bytes=' || coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint::text,'?') FROM pg_stat_replication ORDER BY application_name" || true
  done
}

# pg_leftovers : one line per state that `pg up` would have to repair (nothing when the plain lab is healthy or absent).
pg_leftovers() {
  local n pid primaries=() replicas=() any=0
  for n in $(brownout_running pg); do echo "pg $n is browned out (a brownout loop runs)"; done
  for n in "${PG_NODES[@]}"; do
    pg_exists "$n" || continue
    any=1
    pid=$(pg_pm_pid "$n" || true)
    if [[ -z "$pid" ]]; then echo "pg $n is down"; continue; fi
    # shellcheck disable=SC2046
    if [[ -n "$(frozen_pids $(proc_tree "$pid"))" ]]; then echo "pg $n is frozen (SIGSTOP)"; continue; fi
    case "$(pg_in_recovery "$n" || true)" in
      f) primaries+=("$n") ;;
      t) replicas+=("$n")
         [[ "$(pg_sql "$n" 'SELECT pg_is_wal_replay_paused()')" == t ]] && echo "pg $n has replay paused" ;;
      *) echo "pg $n does not answer" ;;
    esac
  done
  ((any)) || return 0
  if ((${#primaries[@]} == 0)); then echo "pg has no running primary"; return 0; fi
  ((${#primaries[@]} > 1)) && echo "pg has several primaries: ${primaries[*]} (diverged timelines)"
  for n in "${replicas[@]}"; do
    pg_replica_streams "${primaries[0]}" "$n" || echo "pg $n is not streaming from ${primaries[0]}"
  done
  return 0
}

pg_crash_primary() {
  local p pid pids t
  p=$(pg_current_primary)
  pid=$(pg_pm_pid "$p") || die "no postmaster pid for $p"
  t=$(now_ms)
  signal_pids STOP "$pid"           # freeze the postmaster so it cannot fork while we collect its children
  mapfile -t pids < <(proc_tree "$pid")
  signal_pids KILL "${pids[@]}"
  log "SIGKILL $p postmaster $pid and ${#pids[@]} processes"
  echo "$p"
  echo "fault_at_ms=$t"
}

pg_hang_primary() {
  local p pid pids t
  p=$(pg_current_primary)
  pid=$(pg_pm_pid "$p") || die "no postmaster pid for $p"
  t=$(now_ms)
  signal_pids STOP "$pid"
  mapfile -t pids < <(proc_tree "$pid")
  signal_pids STOP "${pids[@]}"
  log "SIGSTOP $p postmaster $pid and ${#pids[@]} processes"
  echo "$p"
  echo "fault_at_ms=$t"
}

pg_resume() {
  local t; t=$(now_ms)
  pg_resume_all
  log "SIGCONT all lab postgres processes"
  echo "fault_at_ms=$t"
}

pg_check_replica_arg() {
  [[ "${1:-}" == n2 || "${1:-}" == n3 || "${1:-}" == n1 ]] || die "usage: pg $2 n1|n2|n3"
  pg_is_replica "$1" || die "$1 is not a running replica"
}

pg_pause_replay() {
  pg_check_replica_arg "${1:-}" pause-replay
  local t; t=$(now_ms)
  pg_sql "$1" 'SELECT pg_wal_replay_pause()' >/dev/null || die "pause failed on $1"
  echo "$1"
  echo "fault_at_ms=$t"
}

pg_resume_replay() {
  pg_check_replica_arg "${1:-}" resume-replay
  local t; t=$(now_ms)
  pg_sql "$1" 'SELECT pg_wal_replay_resume()' >/dev/null || die "resume failed on $1"
  echo "$1"
  echo "fault_at_ms=$t"
}

pg_promote() {
  pg_check_replica_arg "${1:-}" promote
  local n=$1 t
  t=$(now_ms)
  pg_sql "$n" 'SELECT pg_promote(false)' >/dev/null || die "pg_promote failed on $n"
  must_wait 30 "$n out of recovery" pg_is_primary "$n"
  log "$n promoted after $(( $(now_ms) - t )) ms"
  echo "$n"
  echo "fault_at_ms=$t"
}

# pg_brownout NODE DURATION_S [STOP_MS] [PERIOD_MS] : slows replica NODE (see brownout.sh); returns at once.
pg_brownout() {
  pg_check_replica_arg "${1:-}" brownout
  local n=$1 pid t
  pid=$(pg_pm_pid "$n") || die "no postmaster pid for $n"
  t=$(now_ms)
  brownout_start pg "$n" "$pid" "${2:-}" "${3:-40}" "${4:-50}"
  echo "$n"
  echo "fault_at_ms=$t"
}

# pg_crash_replica NODE : SIGKILL replica NODE (postmaster and backends); `pg up` starts it again.
pg_crash_replica() {
  pg_check_replica_arg "${1:-}" crash-replica
  local n=$1 pid pids t
  pid=$(pg_pm_pid "$n") || die "no postmaster pid for $n"
  # The postmaster is stopped first so that it forks nothing while its processes are listed (that takes ~100 ms here);
  # its backends go on serving until the SIGKILL, so the fault instant is taken just before it.
  signal_pids STOP "$pid"
  mapfile -t pids < <(proc_tree "$pid")
  t=$(now_ms)
  signal_pids KILL "${pids[@]}"
  log "SIGKILL $n postmaster $pid and ${#pids[@]} processes"
  echo "$n"
  echo "fault_at_ms=$t"
}

pg_main() {
  local verb=${1:-}; shift || true
  case "$verb" in
    up) converge pg pg_up pg_reset ;;
    down) pg_down ;;
    reset) pg_reset ;;
    status) pg_status ;;
    leftovers) pg_leftovers ;;
    crash-primary) pg_crash_primary ;;
    hang-primary) pg_hang_primary ;;
    resume) pg_resume ;;
    pause-replay) pg_pause_replay "$@" ;;
    resume-replay) pg_resume_replay "$@" ;;
    promote) pg_promote "$@" ;;
    brownout) pg_brownout "$@" ;;
    crash-replica) pg_crash_replica "$@" ;;
    *) die "unknown pg verb '$verb' (up|down|reset|status|crash-primary|hang-primary|resume|pause-replay N|resume-replay N|promote N|brownout N SECONDS [STOP_MS PERIOD_MS]|crash-replica N)" ;;
  esac
}
