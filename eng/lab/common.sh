# shellcheck shell=bash
# Shared helpers for eng/lab.sh. Sourced, not executed.

LAB_ROOT=/tmp/haclient-lab
PGBIN=/usr/lib/postgresql/15/bin
PY=/usr/bin/python3
LAB_PW=haclient-lab-pw

# Progress goes to stderr; results (names, status, fault_at_ms) go to stdout.
log() { printf 'lab: %s\n' "$*" >&2; }
die() { printf 'lab: ERROR: %s\n' "$*" >&2; exit 1; }
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
  local all; all=$(ps -e -o pid=,ppid= 2>/dev/null)
  local queue=("$@") out=() p c
  while ((${#queue[@]})); do
    p=${queue[0]}; queue=("${queue[@]:1}")
    [[ -n "$p" ]] || continue
    out+=("$p")
    for c in $(awk -v pp="$p" '$2==pp {print $1}' <<<"$all"); do queue+=("$c"); done
  done
  printf '%s\n' "${out[@]}"
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
