# shellcheck shell=bash
# The net part's Patroni cluster: etcd in haclient-net-etcd, p1..p3 in haclient-net-p1..p3 (see netns.sh).
# Same DCS settings as the main Patroni lab (ttl 10, loop_wait 1, retry_timeout 4, primary_start_timeout 0).

netpt_dir() { echo "$NET_DIR/$1"; }
netpt_api() { curl -fsS -m 1 "http://${NET_ADDR[$1]}:8008$2" 2>/dev/null; }
netpt_sql() { # netpt_sql NODE SQL : over the node's unix socket (reachable from the root namespace)
  PGCONNECT_TIMEOUT=2 timeout 5 runuser -u postgres -- "$PGBIN/psql" -X -A -t -q -v ON_ERROR_STOP=1 \
    -h "$NET_DIR/$1/sock" -p 5432 -U postgres -d postgres -c "$2" 2>/dev/null
}
# netpt_leader : the member a majority of the answering REST endpoints name leader
netpt_leader() {
  local n l out=()
  for n in "${NET_PT[@]}"; do
    l=$(netpt_api "$n" /cluster | "$PY" -c "import json,sys
c=json.load(sys.stdin); l=[m['name'] for m in c.get('members',[]) if m.get('role') in ('leader','master')]
print(l[0] if l else '')" 2>/dev/null) && [[ -n "$l" ]] && out+=("$l")
  done
  ((${#out[@]})) || return 1
  printf '%s\n' "${out[@]}" | sort | uniq -c | sort -rn | awk -v k="${#out[@]}" 'NR==1 && $1*2>k {print $2; f=1} END {exit !f}'
}
netpt_writable() { [[ -n "$(netpt_sql "$1" 'SELECT txid_current()')" ]]; }
netpt_healthy() {
  local l; l=$(netpt_leader) || return 1
  netpt_writable "$l" || return 1
  [[ "$(netpt_sql "$l" "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" == 2 ]]
}

netpt_write_cfg() {
  local n=$1 a=${NET_ADDR[$1]} d; d=$(netpt_dir "$1")
  cat > "$d/patroni.yml" <<YML
# written by eng/lab.sh net
scope: haclient-net
namespace: /service/
name: $n
log:
  level: INFO
restapi:
  listen: $a:8008
  connect_address: $a:8008
etcd3:
  hosts: ${NET_ADDR[etcd]}:2379
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 4
    maximum_lag_on_failover: 1099511627776
    primary_start_timeout: 0
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: 'on'
        max_wal_senders: 10
        max_replication_slots: 10
        wal_keep_size: 64MB
        wal_log_hints: 'on'
        shared_buffers: 16MB
        max_connections: 100
        password_encryption: scram-sha-256
        wal_retrieve_retry_interval: 1s
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - auth-local: trust
    - auth-host: scram-sha-256
    - waldir: $d/wal
postgresql:
  listen: $a:5432
  connect_address: $a:5432
  data_dir: $(net_fs "$n")/data
  bin_dir: $PGBIN
  pgpass: $d/pgpass
  use_unix_socket: true
  remove_data_directory_on_rewind_failure: true
  remove_data_directory_on_diverged_timelines: true
  authentication:
    superuser: {username: postgres, password: $PT_SUPER_PW}
    replication: {username: replicator, password: $PT_REPL_PW}
  parameters:
    unix_socket_directories: $d/sock
  basebackup:
    - checkpoint: fast
    - waldir: $d/wal
  pg_hba:
    - local all postgres trust
    - local replication postgres trust
    - host all all $NET_PFX.0/24 scram-sha-256
    - host replication all $NET_PFX.0/24 scram-sha-256
YML
  chown postgres:postgres "$d/patroni.yml"; chmod 600 "$d/patroni.yml"
}

netpt_start() { # netpt_start NODE [keep] : keep = restart on the member's data (after a crash); else from empty data
  local n=$1 d fs; d=$(netpt_dir "$1"); fs=$(net_fs "$1")
  net_node_link "$n"
  mkdir -p "$fs" "$d/sock"
  mountpoint -q "$fs" || mount -t tmpfs -o "size=${NET_FS_MB}m,mode=0700" tmpfs "$fs" || die "cannot mount a tmpfs on $fs"
  # An empty data directory: Patroni bootstraps or clones it, and creates the WAL directory.
  [[ ${2:-} == keep ]] || rm -rf "$d/wal" "$fs/data"
  chown postgres:postgres "$fs" "$d" "$d/sock"
  netpt_write_cfg "$n"
  net_exec "$n" setsid setpriv --reuid=postgres --regid=postgres --init-groups --reset-env \
    "$PY" "$PATRONI_BIN" "$d/patroni.yml" </dev/null 9>&- >>"$d/patroni.log" 2>&1 &
  disown $! 2>/dev/null || true
}

netpt_up() {
  local n t0; t0=$(now_ms)
  ensure_packages "${PKGS_PATRONI[@]}"
  if netpt_healthy; then log "net patroni already up: leader=$(netpt_leader)"; return 0; fi
  # Anything half-built (a stopped member, a cut) is rebuilt: lab data is test data.
  net_heal all >/dev/null
  netpt_teardown
  net_node_link etcd
  mkdir -p "$NET_DIR/etcd"
  net_exec etcd setsid etcd --name net --data-dir "$NET_DIR/etcd/data" \
    --listen-client-urls "http://${NET_ADDR[etcd]}:2379" --advertise-client-urls "http://${NET_ADDR[etcd]}:2379" \
    --listen-peer-urls "http://${NET_ADDR[etcd]}:2380" --initial-advertise-peer-urls "http://${NET_ADDR[etcd]}:2380" \
    --initial-cluster "net=http://${NET_ADDR[etcd]}:2380" --initial-cluster-state new --initial-cluster-token haclient-net \
    </dev/null 9>&- >>"$NET_DIR/etcd/etcd.log" 2>&1 &
  disown $! 2>/dev/null || true
  must_wait 20 "net etcd healthy" eval 'ETCDCTL_API=3 timeout 3 etcdctl --endpoints=http://${NET_ADDR[etcd]}:2379 --command-timeout=2s endpoint health'
  netpt_start p1
  wait_for 40 "net p1 leader and writable" eval '[[ "$(netpt_leader)" == p1 ]] && netpt_writable p1' \
    || { tail -n 20 "$NET_DIR/p1/patroni.log" >&2; die "net: p1 did not bootstrap"; }
  netpt_start p2; netpt_start p3
  netpt_sql p1 "CREATE ROLE haclient LOGIN SUPERUSER PASSWORD '$LAB_PW'" >/dev/null || die "net: could not create role haclient"
  netpt_sql p1 "CREATE DATABASE haclient OWNER haclient" >/dev/null || die "net: could not create database haclient"
  must_wait 60 "net patroni: leader writable, 2 streaming replicas" netpt_healthy
  log "net patroni up: leader=$(netpt_leader) ($(( $(now_ms) - t0 )) ms)"
}

# netpt_teardown : etcd and the members gone (processes, namespaces, tmpfs, data); the Redis nodes are left alone.
netpt_teardown() {
  local n ns pids=()
  for n in etcd "${NET_PT[@]}"; do
    ns=$(net_ns "$n"); net_has_ns "$ns" || continue
    mapfile -t -O "${#pids[@]}" pids < <(ip netns pids "$ns" 2>/dev/null)
  done
  if ((${#pids[@]})); then
    signal_pids CONT "${pids[@]}"; signal_pids KILL "${pids[@]}"
    wait_gone 10 "${pids[@]}" || true
  fi
  for n in etcd "${NET_PT[@]}"; do
    ns=$(net_ns "$n"); net_has_ns "$ns" && ip netns delete "$ns"
    mountpoint -q "$(net_fs "$n")" && umount -l "$(net_fs "$n")"
    rm -rf "${NET_DIR:?}/$n" "$(net_fs "$n")"
  done
  return 0
}

netpt_status() {
  local n
  for n in "${NET_PT[@]}"; do
    net_has_ns "$(net_ns "$n")" || continue
    echo "$n $(netpt_api "$n" /patroni | "$PY" -c "import json,sys; p=json.load(sys.stdin); print('role=%s state=%s timeline=%s' % (p.get('role'), p.get('state'), p.get('timeline')))" 2>/dev/null || echo 'rest=not-answering')"
  done
  echo "net leader=$(netpt_leader || echo none)"
}
