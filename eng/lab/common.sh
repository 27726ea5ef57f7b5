# shellcheck shell=bash
# Shared helpers for eng/lab.sh. Sourced, not executed.

LAB_ROOT=/tmp/haclient-lab
PGBIN=/usr/lib/postgresql/15/bin
PY=/usr/bin/python3
LAB_PW=haclient-lab-pw

# Progress goes to stderr; results (names, status, fault_at_ms) go to stdout.
log() { printf 'lab: %s\n' "$*" >&2; }
# die also records its reason, so that `converge` can say in one line why a part had to be rebuilt.
die() {
  printf 'lab: ERROR: %s\n' "$*" >&2
  [[ -d "$LAB_ROOT" ]] && printf '%s\n' "$*" > "$LAB_ROOT/.last-error" 2>/dev/null
  exit 1
}
now_ms() { date +%s%3N; }

# wait_for TIMEOUT_S DESCRIPTION CMD... : poll CMD every 0.15 s until it succeeds.
wait_for() {
  local timeout=$1 desc=$2; shift 2
  local deadline=$(( $(now_ms) + timeout * 1000 ))
  while true; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if (( $(now_ms) > deadline )); then
      log "timed out after ${timeout}s waiting for: $desc"
      return 1
    fi
    sleep 0.15
  done
}

# Same as wait_for but dies on timeout.
must_wait() { wait_for "$@" || die "timed out: $2"; }

# pid_alive PID PATTERN : PID exists and its cmdline contains PATTERN (guards against pid reuse).
pid_alive() {
  local pid=$1 pat=$2
  [[ -n "$pid" && "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  # zombies have an empty cmdline
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pat"
}

# read_pid FILE : first line of a pid file (empty if missing).
read_pid() { [[ -r "$1" ]] && head -n1 "$1" 2>/dev/null | tr -d ' \r\n' || true; }

# proc_tree PID... : prints the given pids and all their descendants.
proc_tree() {
  # One ps and one awk pass (breadth first, as before). An awk per process took ~1 s for a primary with a few hundred
  # backends on a loaded 2-core machine: Patroni crash-leader froze the node for that long before its SIGKILL.
  ps -e -o pid=,ppid= 2>/dev/null | awk -v roots="$*" '
    { kids[$2] = kids[$2] " " $1 }
    END {
      n = split(roots, q, " "); i = 1
      while (i <= n) {
        p = q[i++]; if (p == "") continue
        print p
        m = split(kids[p], c, " "); for (j = 1; j <= m; j++) q[++n] = c[j]
      }
    }'
}

# signal_pids SIG PID... : send SIG to all pids in one kill call; ignore vanished ones.
signal_pids() {
  local sig=$1; shift
  (($#)) || return 0
  kill "-$sig" "$@" 2>/dev/null || true
}

# wait_gone TIMEOUT_S PID... : wait until the pids no longer exist at all (zombies included).
wait_gone() {
  local timeout=$1; shift
  local deadline=$(( $(now_ms) + timeout * 1000 )) p left
  while true; do
    left=0
    for p in "$@"; do [[ -e /proc/$p ]] && left=1 && break; done
    ((left == 0)) && return 0
    (( $(now_ms) > deadline )) && { log "warning: processes still present after ${timeout}s: $*"; return 1; }
    sleep 0.05
  done
}

as_pg() { runuser -u postgres -- "$@"; }

ensure_root() { [[ $(id -u) -eq 0 ]] || die "run as root (CI runs as root; locally use sudo)"; }

# ensure_dir DIR OWNER
ensure_dir() {
  mkdir -p "$1"
  chown "$2" "$1"
}

ensure_lab_root() {
  mkdir -p "$LAB_ROOT"
  chmod 755 "$LAB_ROOT"
}

APT_UPDATED=0
# ensure_packages PKG... : apt-get install whatever is missing (apt-get update at most once).
ensure_packages() {
  local missing=() p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  ((${#missing[@]})) || return 0
  ensure_root
  log "installing: ${missing[*]}"
  if ((APT_UPDATED == 0)); then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed"
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 \
    || die "apt-get install failed: ${missing[*]}"
}

PKGS_PG=(postgresql-15 postgresql-client-15 procps curl)
PKGS_PATRONI=(postgresql-15 postgresql-client-15 patroni etcd-server etcd-client procps curl)
PKGS_REDIS=(redis-server redis-sentinel procps)
PKGS_EXTRA=(haproxy pgpool2)
# promtool (Debian's prometheus package) checks docs/operations' alert rules and dashboard queries in the tests.
PKGS_CHECKS=(prometheus)

# converge PART "UP_CMD" "RESET_CMD" : runs UP_CMD (which repairs what it can, with bounded waits) in a subshell. When it
# cannot converge, says so in one line with its reason and rebuilds PART from scratch with RESET_CMD: lab data is test
# data, so rebuilding is always allowed. Tests and drills may leave any state behind (a frozen node, a diverged
# timeline, a member stuck in `starting`, a Sentinel-demoted master); this is what makes every `up`/`restore` end in a
# healthy lab or a clear error.
converge() {
  local part=$1 up=$2 reset=$3 why
  local rc=0
  rm -f "$LAB_ROOT/.last-error"
  # shellcheck disable=SC2086
  ( $up ) || rc=$?
  ((rc == 0)) && return 0
  why=$(cat "$LAB_ROOT/.last-error" 2>/dev/null || echo "exit status $rc")
  log "repaired: $part did not converge ($why); rebuilding $part from scratch"
  # shellcheck disable=SC2086
  $reset
}

# Every port the lab's servers listen on (plain PG, Patroni PG/REST, etcd, Redis, Sentinel, proxies).
LAB_PORTS=(15432 15433 15434 15442 15443 15444 18008 18009 18010 12379 12380 16379 16380 16381 16479 16480 16481
  15500 15501 15502 15600 15601 16391 16392 16491 15452 15453 15454 15462 15463 15464
  17001 17002 17003 17004 17005 17006 27001 27002 27003 27004 27005 27006)

# port_holders : "port pid command" for every process that listens on a lab port.
port_holders() {
  local line port pid
  ss -Hltnp 2>/dev/null | while read -r line; do
    port=$(awk '{print $4}' <<<"$line"); port=${port##*:}
    pid=$(grep -o 'pid=[0-9]*' <<<"$line" | head -n1 | cut -d= -f2)
    [[ -n "$pid" ]] || continue
    if printf '%s\n' "${LAB_PORTS[@]}" | grep -qx "$port"; then
      echo "$port $pid $(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | cut -c1-100)"
    fi
  done | sort -u
}

# sweep_ports : after every part is down, anything still listening on a lab port is a leftover (a server whose pid
# file is gone, a process of an earlier lab): kill it, and say which.
sweep_ports() {
  local port pid cmd pids=()
  while read -r port pid cmd; do
    [[ -n "$pid" ]] || continue
    log "repaired: port $port was still held by pid $pid ($cmd); killed it"
    pids+=("$pid")
  done < <(port_holders)
  ((${#pids[@]})) || return 0
  signal_pids CONT "${pids[@]}"; signal_pids KILL "${pids[@]}"
  wait_gone 10 "${pids[@]}" || true
}

# Network namespaces the lab creates are named haclient-*; none may outlive `down`.
LAB_NETNS_PREFIX=haclient-
lab_netns() { ip netns list 2>/dev/null | awk '{print $1}' | grep "^$LAB_NETNS_PREFIX" || true; }
sweep_netns() {
  local ns
  for ns in $(lab_netns); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
    ip netns delete "$ns" 2>/dev/null && log "repaired: removed leftover network namespace $ns"
  done
  return 0
}

# frozen_pids PID... : those of the pids that are stopped (SIGSTOP).
frozen_pids() {
  local p
  for p in "$@"; do grep -q '^State:.*(stopped)' "/proc/$p/status" 2>/dev/null && echo "$p"; done
  return 0
}

# Patroni switchover, shared by the loopback lab (patroni.sh) and the net part (netns-soak.sh).
# patroni_switchover_candidate: Patroni's /cluster JSON on stdin -> the member to promote (a running sync standby
# first, then the least lagging running replica); exit 1 when there is none.
patroni_switchover_candidate() {
  /usr/bin/python3 -c "
import json,sys
m=[x for x in json.load(sys.stdin).get('members',[]) if x.get('role') not in ('leader','master') and x.get('state') in ('running','streaming')]
s=[x for x in m if x.get('role')=='sync_standby']
m=sorted(s or m, key=lambda x: (x.get('lag') if isinstance(x.get('lag'),int) else 1<<62, x['name']))
print(m[0]['name']) if m else sys.exit(1)"
}
# patroni_post_switchover API_BASE LEADER CANDIDATE: asks Patroni's REST API for the switchover; prints the HTTP code.
patroni_post_switchover() {
  local code
  code=$(curl -sS -m 30 -o /dev/stderr -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -d "{\"leader\": \"$2\", \"candidate\": \"$3\"}" "$1/switchover") || true
  echo >&2
  echo "$code"
}
