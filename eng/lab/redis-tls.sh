# shellcheck shell=bash
# Redis over TLS only (no plain port): primary 16391, replica 16392 (replication over TLS), one Sentinel 16491 over TLS
# (master name haclient-tls, quorum 1). Certificates from a lab CA made with openssl, for 127.0.0.1/localhost.
# Verbs: redis tls-up (idempotent), redis tls-down (stops it and removes its files). Not part of `up`: tests start it.

RT_DIR=$LAB_ROOT/redis-tls
RT_NODES=(16391 16392)
RT_SENTINEL=16491
RT_NAME=haclient-tls

rt_cli() { timeout 2 redis-cli --tls --cacert "$RT_DIR/ca.crt" -h 127.0.0.1 -p "$1" "${@:2}" 2>/dev/null; }
rt_pid() { local p; p=$(read_pid "$RT_DIR/$1/redis.pid"); pid_alive "$p" ":$1" && echo "$p"; }

rt_certs() { # a CA and one server certificate (serverAuth and clientAuth, SAN 127.0.0.1 and localhost), 2 days
  [[ -f "$RT_DIR/server.crt" ]] && return 0
  mkdir -p "$RT_DIR"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=haclient-lab-ca" \
    -keyout "$RT_DIR/ca.key" -out "$RT_DIR/ca.crt" >/dev/null 2>&1 || die "openssl: CA"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$RT_DIR/server.key" -out "$RT_DIR/server.csr" >/dev/null 2>&1 \
    || die "openssl: server key"
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' > "$RT_DIR/server.ext"
  openssl x509 -req -in "$RT_DIR/server.csr" -CA "$RT_DIR/ca.crt" -CAkey "$RT_DIR/ca.key" -CAcreateserial -days 2 \
    -extfile "$RT_DIR/server.ext" -out "$RT_DIR/server.crt" >/dev/null 2>&1 || die "openssl: server certificate"
  chmod 644 "$RT_DIR"/*.key
}

rt_tls_conf() { # TLS settings shared by the nodes and the Sentinel
  cat <<CONF
bind 127.0.0.1
port 0
tls-port $1
tls-cert-file $RT_DIR/server.crt
tls-key-file $RT_DIR/server.key
tls-ca-cert-file $RT_DIR/ca.crt
tls-auth-clients no
tls-replication yes
daemonize yes
protected-mode no
pidfile $RT_DIR/$1/redis.pid
dir $RT_DIR/$1
CONF
}

rt_start() { # rt_start PORT (node) | rt_start PORT sentinel
  local port=$1 d=$RT_DIR/$1
  [[ -n "$(rt_pid "$port" || true)" ]] && return 0
  mkdir -p "$d"
  if [[ "${2:-}" == sentinel ]]; then
    { rt_tls_conf "$port"; echo "logfile $d/sentinel.log"
      echo "sentinel monitor $RT_NAME 127.0.0.1 ${RT_NODES[0]} 1"
      echo "sentinel down-after-milliseconds $RT_NAME 1000"; } > "$d/sentinel.conf"
    redis-sentinel "$d/sentinel.conf" </dev/null 9>&- >/dev/null 2>&1 || die "redis-sentinel $port (TLS) failed to start"
  else
    { rt_tls_conf "$port"; echo "logfile $d/redis.log"; echo 'save ""'; echo "appendonly no"
      [[ "$port" != "${RT_NODES[0]}" ]] && echo "replicaof 127.0.0.1 ${RT_NODES[0]}"; } > "$d/redis.conf"
    redis-server "$d/redis.conf" </dev/null 9>&- >/dev/null 2>&1 || die "redis-server $port (TLS) failed to start"
  fi
  must_wait 10 "redis $port answers PING over TLS" eval "[[ \"\$(rt_cli $port PING)\" == PONG ]]"
}

rt_ready() {
  [[ "$(rt_cli $RT_SENTINEL SENTINEL get-master-addr-by-name $RT_NAME | sed -n 2p)" == "${RT_NODES[0]}" ]] || return 1
  rt_cli "${RT_NODES[0]}" INFO replication | tr -d '\r' | grep -q '^slave0:.*state=online'
}

rd_tls_up() {
  command -v openssl >/dev/null || die "openssl is not installed"
  rt_certs
  local p; for p in "${RT_NODES[@]}"; do rt_start "$p"; done
  rt_start "$RT_SENTINEL" sentinel
  must_wait 30 "the TLS Sentinel names ${RT_NODES[0]} with its replica online" rt_ready
  log "redis tls up: primary=${RT_NODES[0]} replica=${RT_NODES[1]} sentinel=$RT_SENTINEL (CA $RT_DIR/ca.crt)"
  echo "ca=$RT_DIR/ca.crt"
}

rd_tls_down() {
  local p pid pids=()
  [[ -d "$RT_DIR" ]] || return 0
  for p in "$RT_SENTINEL" "${RT_NODES[@]}"; do
    pid=$(rt_pid "$p" || true); [[ -n "$pid" ]] && pids+=("$pid")
  done
  if ((${#pids[@]})); then signal_pids CONT "${pids[@]}"; signal_pids KILL "${pids[@]}"; wait_gone 10 "${pids[@]}" || die "redis TLS processes still present"; fi
  rm -rf "${RT_DIR:?}"
  log "redis tls down"
}
