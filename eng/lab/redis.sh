# shellcheck shell=bash
# Redis 7 master 16379 + replicas 16380/16381, Sentinels 16479-16481 (master name haclient, quorum 2). No password.

RD_DIR=$LAB_ROOT/redis
RD_NODES=(16379 16380 16381)
RD_SENTINELS=(16479 16480 16481)
RD_NAME=haclient
# shellcheck source=redis-tls.sh
source "$(dirname "${BASH_SOURCE[0]}")/redis-tls.sh"

rcli() { timeout 2 redis-cli -h 127.0.0.1 -p "$1" "${@:2}" 2>/dev/null; }
rd_node_dir() { echo "$RD_DIR/$1"; }
rd_pid() { # pid of the redis/sentinel process on port
  local p; p=$(read_pid "$RD_DIR/$1/redis.pid")
  pid_alive "$p" ":$1" && echo "$p"
}
rd_running() { [[ -n "$(rd_pid "$1" || true)" ]]; }

rd_write_node_conf() {
  local port=$1 d; d=$(rd_node_dir "$1")
  mkdir -p "$d"
  [[ -f "$d/redis.conf" ]] && return 0   # sentinel rewrites it (CONFIG REWRITE); keep it
  cat > "$d/redis.conf" <<CONF
# written by eng/lab.sh
bind 127.0.0.1
port $port
daemonize yes
pidfile $d/redis.pid
logfile $d/redis.log
dir $d
save ""
appendonly no
enable-debug-command local
protected-mode no
repl-diskless-sync yes
repl-diskless-sync-delay 0
CONF
  [[ "$port" != "${RD_NODES[0]}" ]] && echo "replicaof 127.0.0.1 ${RD_NODES[0]}" >> "$d/redis.conf"
  return 0
}

rd_write_sentinel_conf() {
  local port=$1 d; d=$(rd_node_dir "$1")
  mkdir -p "$d"
  [[ -f "$d/sentinel.conf" ]] && return 0   # sentinel rewrites it; keep its state
  cat > "$d/sentinel.conf" <<CONF
# written by eng/lab.sh; Sentinel rewrites this file
bind 127.0.0.1
port $port
daemonize yes
pidfile $d/redis.pid
logfile $d/sentinel.log
dir $d
protected-mode no
sentinel monitor $RD_NAME 127.0.0.1 ${RD_NODES[0]} 2
sentinel down-after-milliseconds $RD_NAME 1000
sentinel failover-timeout $RD_NAME 5000
sentinel parallel-syncs $RD_NAME 1
CONF
}

# master port as reported by sentinels (majority of the answering ones); empty if none answer
rd_sentinel_master() {
  local s out=()
  for s in "${RD_SENTINELS[@]}"; do
    rd_running "$s" || continue
    local m; m=$(rcli "$s" SENTINEL get-master-addr-by-name "$RD_NAME" | sed -n 2p)
    [[ -n "$m" ]] && out+=("$m")
  done
  ((${#out[@]})) && printf '%s\n' "${out[@]}" | sort | uniq -c | sort -rn | awk 'NR==1{print $2}'
  return 0
}
# master port from the sentinel config files (when no sentinel runs)
rd_conf_master() {
  local s
  for s in "${RD_SENTINELS[@]}"; do
    local f; f=$(rd_node_dir "$s")/sentinel.conf
    [[ -f "$f" ]] || continue
    awk -v n="$RD_NAME" '$1=="sentinel" && $2=="monitor" && $3==n {print $5; exit}' "$f"
  done | sort | uniq -c | sort -rn | awk 'NR==1{print $2}'
}
rd_current_master() {
  local m; m=$(rd_sentinel_master)
  [[ -z "$m" ]] && m=$(rd_conf_master)
  [[ -z "$m" ]] && m=${RD_NODES[0]}
  echo "$m"
}

rd_start_node() { # rd_start_node PORT MASTER_PORT
  local port=$1 master=$2 d; d=$(rd_node_dir "$1")
  rd_running "$port" && return 0
  rd_write_node_conf "$port"
  local extra=()
  if [[ "$port" == "$master" ]]; then
    extra=(--replicaof no one)
  else
    extra=(--replicaof 127.0.0.1 "$master")
  fi
  log "starting redis $port (${extra[*]})"
  redis-server "$d/redis.conf" "${extra[@]}" </dev/null 9>&- >/dev/null 2>&1 || die "redis-server $port failed to start"
  must_wait 10 "redis $port answers PING" eval "[[ \"\$(rcli $port PING)\" == PONG ]]"
}

rd_start_sentinel() {
  local port=$1 d; d=$(rd_node_dir "$1")
  rd_running "$port" && return 0
  rd_write_sentinel_conf "$port"
  log "starting sentinel $port"
  redis-sentinel "$d/sentinel.conf" </dev/null 9>&- >/dev/null 2>&1 || die "redis-sentinel $port failed to start"
  must_wait 10 "sentinel $port answers PING" eval "[[ \"\$(rcli $port PING)\" == PONG ]]"
}

# sentinel S: flags/field from SENTINEL MASTER
rd_sentinel_field() { rcli "$1" SENTINEL master "$RD_NAME" | awk -v k="$2" 'prev==k {print; exit} {prev=$0}'; }
rd_sentinel_ok_replicas() { rcli "$1" SENTINEL replicas "$RD_NAME" | awk 'prev=="flags" && $0=="slave" {c++} {prev=$0} END {print c+0}'; }

rd_healthy() {
  local s m="" mm
  for s in "${RD_SENTINELS[@]}"; do
    mm=$(rcli "$s" SENTINEL get-master-addr-by-name "$RD_NAME" | sed -n 2p)
    [[ -n "$mm" ]] || return 1
    [[ -z "$m" ]] && m=$mm
    [[ "$mm" == "$m" ]] || return 1
    [[ "$(rd_sentinel_field "$s" flags)" == master ]] || return 1
    [[ "$(rd_sentinel_field "$s" num-other-sentinels)" == 2 ]] || return 1
    (( $(rd_sentinel_ok_replicas "$s") >= 2 )) || return 1
  done
  local info; info=$(rcli "$m" INFO replication | tr -d '\r')
  grep -qx 'role:master' <<<"$info" || return 1
  grep -qx 'connected_slaves:2' <<<"$info" || return 1
  (( $(grep -c '^slave[0-9]*:.*state=online' <<<"$info") == 2 )) || return 1
}

# A former master that comes back (after SIGSTOP/SIGCONT or a forced failover) keeps role:master until
# Sentinel's next 10 s INFO round reconfigures it. When all sentinels agree, do what Sentinel would do.
rd_fix_stray_masters() {
  local s m="" mm p
  for s in "${RD_SENTINELS[@]}"; do
    mm=$(rcli "$s" SENTINEL get-master-addr-by-name "$RD_NAME" | sed -n 2p)
    [[ -n "$mm" ]] || return 0
    [[ -z "$m" ]] && m=$mm
    [[ "$mm" == "$m" ]] || return 0
    [[ "$(rd_sentinel_field "$s" flags)" == master ]] || return 0
  done
  [[ "$(rcli "$m" ROLE | head -n1)" == master ]] || return 0
  for p in "${RD_NODES[@]}"; do
    [[ "$p" == "$m" ]] && continue
    if [[ "$(rcli "$p" ROLE | head -n1)" == master ]]; then
      log "repaired: redis $p is a stale master; REPLICAOF 127.0.0.1 $m"
      rcli "$p" REPLICAOF 127.0.0.1 "$m" >/dev/null || true
      rcli "$p" CONFIG REWRITE >/dev/null || true
    fi
  done
}
rd_heal_and_check() { rd_healthy && return 0; rd_fix_stray_masters; return 1; }

rd_resume_all() { # rd_resume_all [--say] : end any brownout, SIGCONT every node and Sentinel; with --say, log the ones that were frozen
  local p pid pids=()
  brownout_stop redis
  for p in "${RD_NODES[@]}" "${RD_SENTINELS[@]}"; do
    pid=$(rd_pid "$p" || true); [[ -n "$pid" ]] || continue
    [[ "${1:-}" == --say && -n "$(frozen_pids "$pid")" ]] && log "repaired: redis $p was frozen; resumed it"
    pids+=("$pid")
  done
  signal_pids CONT "${pids[@]}"
}

# rd_leftovers : one line per state that `redis up` would have to repair.
rd_leftovers() {
  local p pid masters=() s m seen=""
  [[ -d "$RD_DIR" ]] || return 0
  for p in $(brownout_running redis); do echo "redis $p is browned out (a brownout loop runs)"; done
  for p in "${RD_NODES[@]}" "${RD_SENTINELS[@]}"; do
    [[ -d "$RD_DIR/$p" ]] || continue
    pid=$(rd_pid "$p" || true)
    if [[ -z "$pid" ]]; then echo "redis $p is down"; continue; fi
    if [[ -n "$(frozen_pids "$pid")" ]]; then echo "redis $p is frozen (SIGSTOP)"; continue; fi
  done
  for p in "${RD_NODES[@]}"; do
    [[ "$(rcli "$p" ROLE | head -n1)" == master ]] && masters+=("$p")
  done
  ((${#masters[@]} > 1)) && echo "redis has several masters: ${masters[*]} (a Sentinel-demoted master still writable)"
  for s in "${RD_SENTINELS[@]}"; do
    m=$(rcli "$s" SENTINEL get-master-addr-by-name "$RD_NAME" | sed -n 2p) || continue
    [[ -n "$m" ]] || continue
    [[ -n "$seen" && "$m" != "$seen" ]] && echo "redis sentinels disagree on the master ($seen, $m)"
    seen=$m
  done
  return 0
}

rd_up() {
  ensure_root; ensure_packages "${PKGS_REDIS[@]}"
  ensure_lab_root
  mkdir -p "$RD_DIR"
  local t0 m p; t0=$(now_ms)
  rd_resume_all --say
  m=$(rd_current_master)
  # if the recorded master cannot be started but others run, trust the sentinels
  for p in "${RD_NODES[@]}"; do rd_start_node "$p" "$m"; done
  for p in "${RD_SENTINELS[@]}"; do rd_start_sentinel "$p"; done
  if ! wait_for 60 "sentinels agree on a master with 2 online replicas" rd_heal_and_check; then
    rd_status >&2 || true
    die "redis not healthy"
  fi
  log "redis up: master=$(rd_sentinel_master) ($(( $(now_ms) - t0 )) ms)"
}

rd_down() {
  local p pid pids=()
  rd_tls_down
  rd_resume_all
  # sentinels first so they do not start a failover while the servers go away
  for p in "${RD_SENTINELS[@]}" "${RD_NODES[@]}"; do
    pid=$(rd_pid "$p" || true); [[ -n "$pid" ]] || continue
    pids+=("$pid")
    signal_pids KILL "$pid"
  done
  ((${#pids[@]})) && { wait_gone 10 "${pids[@]}" || die "redis processes still present"; }
  log "redis down"
}

rd_reset() {
  ensure_root
  ( rd_down ) || true
  rm -rf "${RD_DIR:?}"
  rd_up
}

rd_status() {
  local s p m role
  for s in "${RD_SENTINELS[@]}"; do
    if ! rd_running "$s"; then echo "sentinel $s state=down"; continue; fi
    m=$(rcli "$s" SENTINEL get-master-addr-by-name "$RD_NAME" | sed -n 2p || true)
    echo "sentinel $s state=running master=${m:-?} flags=$(rd_sentinel_field "$s" flags || true) other_sentinels=$(rd_sentinel_field "$s" num-other-sentinels || true) ok_replicas=$(rd_sentinel_ok_replicas "$s" || true)"
  done
  for p in "${RD_NODES[@]}"; do
    if ! rd_running "$p"; then echo "redis $p state=down"; continue; fi
    if grep -q '^State:.*(stopped)' "/proc/$(rd_pid "$p")/status" 2>/dev/null; then echo "redis $p state=frozen"; continue; fi
    local info; info=$(rcli "$p" INFO replication | tr -d '\r')
    role=$(sed -n 's/^role://p' <<<"$info")
    if [[ "$role" == master ]]; then
      echo "redis $p state=running role=master offset=$(sed -n 's/^master_repl_offset://p' <<<"$info") connected_replicas=$(sed -n 's/^connected_slaves://p' <<<"$info")"
    else
      echo "redis $p state=running role=${role:-?} master_port=$(sed -n 's/^master_port://p' <<<"$info") link=$(sed -n 's/^master_link_status://p' <<<"$info") offset=$(sed -n 's/^slave_repl_offset://p' <<<"$info")"
    fi
  done
}

rd_master_or_die() {
  local m; m=$(rd_sentinel_master)
  [[ -n "$m" ]] || die "no sentinel reports a master"
  echo "$m"
}

rd_crash_master() {
  local m pid t; m=$(rd_master_or_die)
  pid=$(rd_pid "$m") || die "redis $m is not running"
  t=$(now_ms)
  signal_pids KILL "$pid"
  log "SIGKILL redis $m (pid $pid)"
  echo "$m"
  echo "fault_at_ms=$t"
}

rd_hang_master() {
  local m pid t; m=$(rd_master_or_die)
  pid=$(rd_pid "$m") || die "redis $m is not running"
  t=$(now_ms)
  signal_pids STOP "$pid"
  log "SIGSTOP redis $m (pid $pid)"
  echo "$m"
  echo "fault_at_ms=$t"
}

rd_hang_replicas() { # SIGSTOP every node but the master (WAIT then gets no acknowledgement); undone by resume/up
  local m p pid t pids=(); m=$(rd_master_or_die)
  for p in "${RD_NODES[@]}"; do
    [[ "$p" == "$m" ]] && continue
    pid=$(rd_pid "$p" || true); [[ -n "$pid" ]] || continue
    pids+=("$pid"); echo "$p"
  done
  ((${#pids[@]})) || die "no running replica to freeze"
  t=$(now_ms)
  signal_pids STOP "${pids[@]}"
  log "SIGSTOP redis replicas of $m (pids ${pids[*]})"
  echo "fault_at_ms=$t"
}

rd_resume() {
  local t; t=$(now_ms)
  rd_resume_all
  log "SIGCONT all lab redis/sentinel processes"
  echo "fault_at_ms=$t"
}

rd_new_master_ready() { # $1 = old master
  local m; m=$(rd_sentinel_master)
  [[ -n "$m" && "$m" != "$1" ]] || return 1
  rcli "$m" ROLE | head -n1 | grep -qx master
}

rd_failover() {
  local old s t r; old=$(rd_master_or_die)
  for s in "${RD_SENTINELS[@]}"; do rd_running "$s" && break; done
  t=$(now_ms)
  r=$(rcli "$s" SENTINEL failover "$RD_NAME") || true
  [[ "$r" == OK ]] || die "SENTINEL FAILOVER on $s failed: $r"
  must_wait 30 "a new master reported by the sentinels" rd_new_master_ready "$old"
  log "failover $old -> $(rd_sentinel_master) after $(( $(now_ms) - t )) ms"
  echo "old_master=$old"
  echo "new_master=$(rd_sentinel_master)"
  echo "fault_at_ms=$t"
}

rd_kill_sentinel() {
  local s=${RD_SENTINELS[0]} pid t
  pid=$(rd_pid "$s") || die "sentinel $s is not running"
  t=$(now_ms)
  signal_pids KILL "$pid"
  log "SIGKILL sentinel $s (pid $pid)"
  echo "$s"
  echo "fault_at_ms=$t"
}

# rd_brownout PORT DURATION_S [STOP_MS] [PERIOD_MS] : slows the replica on PORT (see brownout.sh); returns at once.
rd_brownout() {
  local p=${1:-} m pid t
  [[ " ${RD_NODES[*]} " == *" $p "* ]] || die "usage: redis brownout PORT SECONDS [STOP_MS PERIOD_MS] (PORT one of ${RD_NODES[*]})"
  m=$(rd_master_or_die)
  [[ "$p" != "$m" ]] || die "$p is the master; redis brownout slows a replica"
  pid=$(rd_pid "$p") || die "redis $p is not running"
  t=$(now_ms)
  brownout_start redis "$p" "$pid" "${2:-}" "${3:-40}" "${4:-50}"
  echo "$p"
  echo "fault_at_ms=$t"
}

rd_main() {
  local verb=${1:-}; shift || true
  case "$verb" in
    up|restore) converge redis rd_up rd_reset ;;
    down) rd_down ;;
    reset) rd_reset ;;
    status) rd_status ;;
    leftovers) rd_leftovers ;;
    crash-master) rd_crash_master ;;
    hang-master) rd_hang_master ;;
    hang-replicas) rd_hang_replicas ;;
    tls-up) rd_tls_up ;;
    tls-down) rd_tls_down ;;
    resume) rd_resume ;;
    failover) rd_failover ;;
    kill-sentinel) rd_kill_sentinel ;;
    brownout) rd_brownout "$@" ;;
    *) die "unknown redis verb '$verb' (up|down|reset|status|crash-master|hang-master|hang-replicas|resume|failover|kill-sentinel|restore|tls-up|tls-down|brownout PORT SECONDS)" ;;
  esac
}
redis_main() { rd_main "$@"; }
