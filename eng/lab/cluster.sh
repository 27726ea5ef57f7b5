# shellcheck shell=bash
# Redis 7 Cluster: six nodes 17001-17006 (cluster bus 27001-27006), three shards of one master and one replica.
# Shard N (1-3) is built as master 1700N + replica 1700(N+3) and owns the slot range that starts at CL_FIRST_SLOT[N-1];
# after a failover its master is whichever node owns that range now. No password. Files in /tmp/haclient-lab/cluster/<port>/.

CL_DIR=$LAB_ROOT/cluster
CL_NODES=(17001 17002 17003 17004 17005 17006)
CL_FIRST_SLOT=(0 5461 10923)
CL_LAST_SLOT=(5460 10922 16383)
CL_NODE_TIMEOUT_MS=1500
# hang-master thaws the node by itself after this many seconds unless `cluster thaw`/`up`/`down` did first.
CL_HANG_MAX_S=${CL_HANG_MAX_S:-60}

ccli() { timeout 2 redis-cli -h 127.0.0.1 -p "$1" "${@:2}" 2>/dev/null; }
cl_pid() {
  local p; p=$(read_pid "$CL_DIR/$1/redis.pid")
  pid_alive "$p" ":$1" && echo "$p"
}
cl_running() { [[ -n "$(cl_pid "$1" || true)" ]]; }
cl_frozen() { local pid; pid=$(cl_pid "$1" || true); [[ -n "$pid" && -n "$(frozen_pids "$pid")" ]]; }

cl_write_conf() {
  local port=$1 d=$CL_DIR/$1
  mkdir -p "$d"
  [[ -f "$d/redis.conf" ]] && return 0
  cat > "$d/redis.conf" <<CONF
# written by eng/lab.sh (cluster part)
bind 127.0.0.1
port $port
daemonize yes
pidfile $d/redis.pid
logfile $d/redis.log
dir $d
save ""
appendonly no
protected-mode no
enable-debug-command local
cluster-enabled yes
cluster-config-file $d/nodes.conf
cluster-node-timeout $CL_NODE_TIMEOUT_MS
# A shard without a master must not stop the other shards (what HA clients are tested against).
cluster-require-full-coverage no
# A replica may always take over, however long its link was down (after a hang).
cluster-replica-validity-factor 0
repl-diskless-sync yes
repl-diskless-sync-delay 0
CONF
}

cl_start_node() {
  local port=$1
  cl_running "$port" && return 0
  cl_write_conf "$port"
  log "starting cluster node $port"
  redis-server "$CL_DIR/$port/redis.conf" </dev/null 9>&- >/dev/null 2>&1 || die "cluster node $port failed to start"
  must_wait 10 "cluster node $port answers PING" eval "[[ \"\$(ccli $port PING)\" == PONG ]]"
}

cl_info() { ccli "$1" CLUSTER INFO | tr -d '\r' | sed -n "s/^$2://p"; }
cl_myid() { ccli "$1" CLUSTER MYID | tr -d '\r'; }

# cl_nodes_from PORT : CLUSTER NODES as seen by PORT (empty when it does not answer).
cl_nodes_from() { ccli "$1" CLUSTER NODES | tr -d '\r'; }
# cl_any_nodes : CLUSTER NODES from the first running, unfrozen node that answers.
cl_any_nodes() {
  local p out
  for p in "${CL_NODES[@]}"; do
    cl_running "$p" || continue
    cl_frozen "$p" && continue
    out=$(cl_nodes_from "$p") && [[ -n "$out" ]] && { echo "$out"; return 0; }
  done
  return 1
}

# cl_slot_owner SLOT [NODES_TEXT] : port of the master (not failed) that owns SLOT.
cl_slot_owner() {
  local slot=$1 nodes=${2:-}
  [[ -n "$nodes" ]] || nodes=$(cl_any_nodes) || return 1
  awk -v s="$slot" '
    $3 ~ /master/ && $3 !~ /fail/ {
      for (i = 9; i <= NF; i++) {
        if ($i ~ /^\[/) continue
        n = split($i, r, "-"); lo = r[1] + 0; hi = (n > 1 ? r[2] : r[1]) + 0
        if (s >= lo && s <= hi) { split($2, a, "[:@]"); print a[2]; exit }
      }
    }' <<<"$nodes"
}
# cl_replicas_of PORT [NODES_TEXT] : ports of the nodes that replicate from PORT.
cl_replicas_of() {
  local port=$1 nodes=${2:-} id
  [[ -n "$nodes" ]] || nodes=$(cl_any_nodes) || return 1
  id=$(awk -v p=":$port@" 'index($2, p) {print $1; exit}' <<<"$nodes")
  [[ -n "$id" ]] || return 0
  awk -v id="$id" '$4 == id {split($2, a, "[:@]"); print a[2]}' <<<"$nodes"
}

cl_shard_or_die() {
  local n=${1:-}
  [[ "$n" =~ ^[1-3]$ ]] || die "shard number 1, 2 or 3 required (got '${n}')"
  echo "$n"
}
cl_master_of() { # cl_master_of N : the port of shard N's master, or dies
  local n; n=$(cl_shard_or_die "$1") || exit 1
  local m; m=$(cl_slot_owner "${CL_FIRST_SLOT[n-1]}") || true
  [[ -n "$m" ]] || die "cluster shard $n has no master"
  echo "$m"
}

# cl_healthy : every node runs, answers, sees cluster_state:ok and 6 nodes; every shard has a master with one online replica.
cl_healthy() {
  local p nodes n m r info
  for p in "${CL_NODES[@]}"; do
    cl_running "$p" || return 1
    cl_frozen "$p" && return 1
    [[ "$(cl_info "$p" cluster_state)" == ok ]] || return 1
    [[ "$(cl_info "$p" cluster_known_nodes)" == 6 ]] || return 1
  done
  nodes=$(cl_nodes_from "${CL_NODES[0]}") || return 1
  grep -q 'fail' <<<"$(awk '{print $3}' <<<"$nodes")" && return 1
  for n in 1 2 3; do
    m=$(cl_slot_owner "${CL_FIRST_SLOT[n-1]}" "$nodes"); [[ -n "$m" ]] || return 1
    r=$(cl_replicas_of "$m" "$nodes"); [[ $(wc -w <<<"$r") == 1 ]] || return 1
    info=$(ccli "$m" INFO replication | tr -d '\r')
    (( $(grep -c '^slave[0-9]*:.*state=online' <<<"$info") == 1 )) || return 1
  done
}

cl_formed() { [[ "$(cl_info "${CL_NODES[0]}" cluster_known_nodes)" == 6 ]] && [[ -n "$(cl_slot_owner 0 "$(cl_nodes_from "${CL_NODES[0]}")")" ]]; }
cl_knows_all() { local p; for p in "${CL_NODES[@]}"; do [[ "$(cl_info "$p" cluster_known_nodes)" == 6 ]] || return 1; done; }

# cl_create : forms the cluster from six empty nodes (deterministically: shard N = master 1700N, replica 1700(N+3)).
cl_create() {
  local p n id
  log "forming the cluster (3 shards, 1 replica each)"
  for p in "${CL_NODES[@]:1}"; do ccli "${CL_NODES[0]}" CLUSTER MEET 127.0.0.1 "$p" >/dev/null || die "CLUSTER MEET $p failed"; done
  for n in 0 1 2; do
    ccli "${CL_NODES[n]}" CLUSTER SET-CONFIG-EPOCH $((n + 1)) >/dev/null || true
    [[ "$(ccli "${CL_NODES[n]}" CLUSTER ADDSLOTSRANGE "${CL_FIRST_SLOT[n]}" "${CL_LAST_SLOT[n]}")" == OK ]] \
      || die "CLUSTER ADDSLOTSRANGE on ${CL_NODES[n]} failed"
  done
  must_wait 15 "every cluster node knows all six" cl_knows_all
  for n in 0 1 2; do
    id=$(cl_myid "${CL_NODES[n]}")
    must_wait 10 "${CL_NODES[n+3]} replicates ${CL_NODES[n]}" \
      eval "[[ \"\$(ccli ${CL_NODES[n+3]} CLUSTER REPLICATE $id)\" == OK ]]"
  done
}

# cl_thaw [--say] : SIGCONT every cluster node.
cl_thaw_all() {
  local p pid pids=()
  for p in "${CL_NODES[@]}"; do
    pid=$(cl_pid "$p" || true); [[ -n "$pid" ]] || continue
    [[ "${1:-}" == --say && -n "$(frozen_pids "$pid")" ]] && log "repaired: cluster node $p was frozen; resumed it"
    pids+=("$pid")
  done
  signal_pids CONT "${pids[@]}"
  rm -f "$CL_DIR"/*.thaw
}

cl_up() {
  ensure_root; ensure_packages "${PKGS_REDIS[@]}"
  ensure_lab_root
  mkdir -p "$CL_DIR"
  local t0 p; t0=$(now_ms)
  cl_thaw_all --say
  for p in "${CL_NODES[@]}"; do cl_start_node "$p"; done
  cl_formed || { [[ -z "$(cl_slot_owner 0 "$(cl_nodes_from "${CL_NODES[0]}")")" ]] && cl_create; }
  if ! wait_for 30 "cluster_state ok with a master and an online replica in every shard" cl_healthy; then
    cl_status >&2 || true
    die "redis cluster not healthy"
  fi
  log "cluster up: masters $(for n in 1 2 3; do cl_master_of $n; done | tr '\n' ' ')($(( $(now_ms) - t0 )) ms)"
}

cl_down() {
  local p pid pids=()
  cl_thaw_all
  for p in "${CL_NODES[@]}"; do
    pid=$(cl_pid "$p" || true); [[ -n "$pid" ]] || continue
    pids+=("$pid")
  done
  signal_pids KILL "${pids[@]}"
  ((${#pids[@]})) && { wait_gone 10 "${pids[@]}" || die "cluster processes still present"; }
  log "cluster down"
}

cl_reset() {
  ensure_root
  ( cl_down ) || true
  rm -rf "${CL_DIR:?}"
  cl_up
}

cl_status() {
  local p n m nodes info role
  nodes=$(cl_any_nodes || true)
  for n in 1 2 3; do
    m=$(cl_slot_owner "${CL_FIRST_SLOT[n-1]}" "$nodes" 2>/dev/null || true)
    echo "shard $n slots=${CL_FIRST_SLOT[n-1]}-${CL_LAST_SLOT[n-1]} master=${m:-none} replicas=$( [[ -n "$m" ]] && cl_replicas_of "$m" "$nodes" | paste -sd, - )"
  done
  for p in "${CL_NODES[@]}"; do
    if ! cl_running "$p"; then echo "node $p state=down"; continue; fi
    if cl_frozen "$p"; then echo "node $p state=frozen"; continue; fi
    info=$(ccli "$p" INFO replication | tr -d '\r')
    role=$(sed -n 's/^role://p' <<<"$info")
    echo "node $p state=running role=${role:-?} cluster_state=$(cl_info "$p" cluster_state) offset=$(sed -n 's/^master_repl_offset://p' <<<"$info")"
  done
}

cl_leftovers() {
  local p
  [[ -d "$CL_DIR" ]] || return 0
  for p in "${CL_NODES[@]}"; do
    [[ -d "$CL_DIR/$p" ]] || continue
    if ! cl_running "$p"; then echo "cluster node $p is down"; continue; fi
    cl_frozen "$p" && echo "cluster node $p is frozen (SIGSTOP)"
  done
  cl_healthy || echo "redis cluster is not healthy (a shard without a master or replica, or cluster_state not ok)"
  return 0
}

cl_crash_master() {
  local m pid t; m=$(cl_master_of "${1:-}") || exit 1
  pid=$(cl_pid "$m") || die "cluster node $m is not running"
  t=$(now_ms)
  signal_pids KILL "$pid"
  log "SIGKILL cluster node $m (pid $pid), master of shard $1"
  echo "$m"
  echo "fault_at_ms=$t"
}

cl_hang_master() {
  local m pid t; m=$(cl_master_of "${1:-}") || exit 1
  pid=$(cl_pid "$m") || die "cluster node $m is not running"
  t=$(now_ms)
  signal_pids STOP "$pid"
  log "SIGSTOP cluster node $m (pid $pid), master of shard $1; thawed by 'cluster thaw', 'up', 'down' or after ${CL_HANG_MAX_S} s"
  # Bounded: a detached timer thaws it (only if the same process is still there and still frozen by us).
  echo "$pid" > "$CL_DIR/$m.thaw"
  ( setsid bash -c "sleep $CL_HANG_MAX_S; [[ -f '$CL_DIR/$m.thaw' && \"\$(cat '$CL_DIR/$m.thaw')\" == $pid ]] && kill -CONT $pid; rm -f '$CL_DIR/$m.thaw'" \
      </dev/null >/dev/null 2>&1 9>&- & )
  echo "$m"
  echo "fault_at_ms=$t"
}

cl_thaw() {
  local t; t=$(now_ms)
  cl_thaw_all
  log "SIGCONT every cluster node"
  echo "fault_at_ms=$t"
}

cl_failover() { # CLUSTER FAILOVER on shard N's replica; returns once the replica is its master
  local n old r t; n=$(cl_shard_or_die "${1:-}") || exit 1
  old=$(cl_master_of "$n") || exit 1
  r=$(cl_replicas_of "$old" | head -n1)
  [[ -n "$r" ]] || die "cluster shard $n has no replica to fail over to"
  t=$(now_ms)
  [[ "$(ccli "$r" CLUSTER FAILOVER)" == OK ]] || die "CLUSTER FAILOVER on $r failed"
  must_wait 15 "$r becomes the master of shard $n" eval "[[ \"\$(cl_slot_owner ${CL_FIRST_SLOT[n-1]} \"\$(cl_nodes_from $r)\")\" == $r ]]"
  log "cluster shard $n failover $old -> $r after $(( $(now_ms) - t )) ms"
  echo "old_master=$old"
  echo "new_master=$r"
  echo "fault_at_ms=$t"
}

cl_main() {
  local verb=${1:-}; shift || true
  case "$verb" in
    up|restore) converge cluster cl_up cl_reset ;;
    down) cl_down ;;
    reset) cl_reset ;;
    status) cl_status ;;
    leftovers) cl_leftovers ;;
    crash-master) cl_crash_master "$@" ;;
    hang-master) cl_hang_master "$@" ;;
    thaw|resume) cl_thaw ;;
    failover) cl_failover "$@" ;;
    *) die "unknown cluster verb '$verb' (up|down|reset|status|crash-master N|hang-master N|thaw|failover N|restore)" ;;
  esac
}
cluster_main() { cl_main "$@"; }
