#!/usr/bin/env bash
# HaClient local HA lab. See eng/lab/README.md for verbs and output formats.
set -euo pipefail
LAB_SH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lab/common.sh
source "$LAB_SH_DIR/lab/common.sh"
# shellcheck source=lab/brownout.sh
source "$LAB_SH_DIR/lab/brownout.sh"
# shellcheck source=lab/pg.sh
source "$LAB_SH_DIR/lab/pg.sh"
[[ -f "$LAB_SH_DIR/lab/patroni.sh" ]] && source "$LAB_SH_DIR/lab/patroni.sh"
[[ -f "$LAB_SH_DIR/lab/redis.sh" ]] && source "$LAB_SH_DIR/lab/redis.sh"
# shellcheck source=lab/pgbouncer.sh
[[ -f "$LAB_SH_DIR/lab/pgbouncer.sh" ]] && source "$LAB_SH_DIR/lab/pgbouncer.sh"
[[ -f "$LAB_SH_DIR/lab/cluster.sh" ]] && source "$LAB_SH_DIR/lab/cluster.sh"
# shellcheck source=lab/netns.sh
[[ -f "$LAB_SH_DIR/lab/netns.sh" ]] && source "$LAB_SH_DIR/lab/netns.sh"
# shellcheck source=lab/soak.sh
[[ -f "$LAB_SH_DIR/lab/soak.sh" ]] && source "$LAB_SH_DIR/lab/soak.sh"

usage() {
  cat >&2 <<USAGE
usage: bash eng/lab.sh install [--all]
       bash eng/lab.sh up|down|reset|status|leftovers
       bash eng/lab.sh pg <verb> ...       (up down reset status crash-primary hang-primary resume pause-replay promote crash-replica brownout ...)
       bash eng/lab.sh patroni <verb> ...  (up [--sync] down reset status crash-leader kill-postmaster hang-leader resume switchover restore)
       bash eng/lab.sh redis <verb> ...    (up down reset status crash-master hang-master hang-replicas resume failover kill-sentinel restore tls-up tls-down brownout)
       bash eng/lab.sh pgbouncer <verb>    (up down reset status pause NAME resume: one PgBouncer per plain and Patroni node)
       bash eng/lab.sh cluster <verb> ...  (up down reset status crash-master N hang-master N thaw failover N restore; N = shard 1-3)
       bash eng/lab.sh net <verb> ...      (up [patroni|redis|all] down status probe cut NODE|leader|master all|dcs|client heal NODE|all
                                            fill NODE unfill NODE leader master: nodes in network namespaces, started only on demand;
                                            eng/lab/netns.sh; the soak's faults there: patroni VERB, redis VERB, healed-pg, healed-redis,
                                            eng/lab/netns-soak.sh)
       bash eng/lab.sh soak <verb>         (pg-lag pg-unlag healed-pg healed-redis: the soak's lag fault and healed checks)
USAGE
  exit 2
}

# Daemons started here must never inherit a caller's descriptors: a caller running us under
# `flock FILE cmd` (the drill lock) would otherwise have its lock pinned by etcd/Patroni/Redis for
# as long as they live. Close everything above stderr before anything else.
for fd in /proc/$$/fd/*; do
  fd=${fd##*/}
  [[ $fd =~ ^[0-9]+$ && $fd -gt 2 && $fd -ne 255 ]] && eval "exec $fd>&-" 2>/dev/null || true
done

# Serialize mutating invocations (tests and drills may call the lab concurrently). fd 9 holds the lock;
# every daemon is started with 9>&- so it does not inherit it.
lab_lock() {
  case " $* " in
    *" status "*|*" leftovers "*|*" healed-pg "*|*" healed-redis "*|*" probe "*|" "|*" help "*|*" -h "*|*" --help "*) return 0 ;;
  esac
  mkdir -p "$LAB_ROOT"
  exec 9>"$LAB_ROOT/lab.lock"
  if ! flock -n 9; then
    log "waiting for another eng/lab.sh invocation to finish (lock $LAB_ROOT/lab.lock)"
    flock -w 300 9 || die "could not get the lab lock within 300 s"
  fi
}

# leftovers : warns of every state that `up` would have to repair (frozen nodes, diverged timelines, members that do
# not stream, several masters, processes on lab ports that the lab does not know, leftover namespaces).
leftovers() {
  local lines
  lines=$( { pg_leftovers
    declare -F pt_leftovers >/dev/null && pt_leftovers
    declare -F rd_leftovers >/dev/null && rd_leftovers
    declare -F pb_leftovers >/dev/null && pb_leftovers
    declare -F cl_leftovers >/dev/null && cl_leftovers
    declare -F net_leftovers >/dev/null && net_leftovers
    lab_netns | grep -v '^haclient-net-' | sed 's/^/leftover network namespace /'
    port_holders | while read -r port pid cmd; do
      known=0
      for f in "$LAB_ROOT"/pg/n?/postmaster.pid "$LAB_ROOT"/patroni/p?/postmaster.pid "$LAB_ROOT"/patroni/p?.pid \
               "$LAB_ROOT"/etcd/etcd.pid "$LAB_ROOT"/redis/*/redis.pid "$LAB_ROOT"/cluster/*/redis.pid "$LAB_ROOT"/proxies/*.pid \
               "$LAB_ROOT"/pgbouncer/*.pid; do
        [[ -r "$f" && "$(read_pid "$f")" == "$pid" ]] && known=1 && break
      done
      ((known)) || echo "port $port is held by pid $pid ($cmd), which no lab pid file names"
    done
  } 2>/dev/null )
  echo "== leftovers"
  if [[ -z "$lines" ]]; then echo "none"; return 0; fi
  sed 's/^/warning: /' <<<"$lines"
  echo "warning: 'bash eng/lab.sh up' repairs these (or rebuilds the part); 'bash eng/lab.sh reset' starts from empty data"
}

main() {
  lab_lock "$@"
  local cmd=${1:-}; shift || true
  case "$cmd" in
    install)
      ensure_root
      local pk=("${PKGS_PG[@]}" "${PKGS_PATRONI[@]}" "${PKGS_REDIS[@]}" "${PKGS_CHECKS[@]}" "${PKGS_PGBOUNCER[@]}")
      [[ "${1:-}" == --all ]] && pk+=("${PKGS_EXTRA[@]}")
      ensure_packages $(printf '%s\n' "${pk[@]}" | sort -u)
      log "install: all packages present" ;;
    pg) pg_main "$@" ;;
    patroni) declare -F patroni_main >/dev/null || die "patroni part not available"; patroni_main "$@" ;;
    redis) declare -F redis_main >/dev/null || die "redis part not available"; redis_main "$@" ;;
    pgbouncer) pgbouncer_main "$@" ;;
    cluster) declare -F cluster_main >/dev/null || die "cluster part not available"; cluster_main "$@" ;;
    net) declare -F net_main >/dev/null || die "net part not available"; net_main "$@" ;;
    soak) declare -F soak_main >/dev/null || die "soak part not available"; soak_main "$@" ;;
    up)
      pg_main up
      declare -F patroni_main >/dev/null && patroni_main up
      declare -F redis_main >/dev/null && redis_main up
      pgbouncer_main up
      declare -F cluster_main >/dev/null && cluster_main up
      true ;;
    down)
      local rc=0
      ( pgbouncer_main down ) || rc=1
      ( pg_main down ) || rc=1
      if declare -F patroni_main >/dev/null; then ( patroni_main down ) || rc=1; fi
      if declare -F redis_main >/dev/null; then ( redis_main down ) || rc=1; fi
      if declare -F cluster_main >/dev/null; then ( cluster_main down ) || rc=1; fi
      if declare -F net_main >/dev/null; then ( net_main down ) || rc=1; fi
      sweep_netns
      return $rc ;;
    reset)
      # From any state: every part down (tolerating failures), anything still on a lab port killed, leftover
      # namespaces removed, then every part rebuilt from empty data.
      ( pgbouncer_main down ) || true
      ( pg_main down ) || true
      if declare -F patroni_main >/dev/null; then ( patroni_main down ) || true; fi
      if declare -F redis_main >/dev/null; then ( redis_main down ) || true; fi
      if declare -F cluster_main >/dev/null; then ( cluster_main down ) || true; fi
      if declare -F net_main >/dev/null; then ( net_main down ) || true; fi
      sweep_ports
      sweep_netns
      converge pg pg_reset pg_reset
      declare -F pt_reset >/dev/null && converge patroni "pt_reset false" "pt_reset false"
      declare -F rd_reset >/dev/null && converge redis rd_reset rd_reset
      pgbouncer_main up
      declare -F cl_reset >/dev/null && converge cluster cl_reset cl_reset
      true ;;
    status)
      echo "== pg"; pg_main status
      if declare -F patroni_main >/dev/null; then echo "== patroni"; patroni_main status; fi
      if declare -F redis_main >/dev/null; then echo "== redis"; redis_main status; fi
      echo "== pgbouncer"; pgbouncer_main status
      if declare -F cluster_main >/dev/null; then echo "== cluster"; cluster_main status; fi
      if declare -F net_main >/dev/null; then echo "== net"; net_main status; fi
      leftovers ;;
    leftovers) leftovers ;;
    ""|-h|--help|help) usage ;;
    *) log "unknown command '$cmd'"; usage ;;
  esac
}

main "$@"
