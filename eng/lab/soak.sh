# Lab verbs for the soak (bash eng/lab.sh soak <verb>): a lagging Patroni replica and the "healed" checks the soak
# polls between faults. Sourced by eng/lab.sh after patroni.sh and redis.sh.

# soak pg-lag : pauses WAL replay on one Patroni replica (the asynchronous one when there is one); prints its port.
sk_pg_lag() {
  local l n c t
  l=$(pt_current_leader)
  c=$(pt_cluster | pt_py "
m=[x for x in c.get('members',[]) if x.get('role') not in ('leader','master') and x.get('state') in ('running','streaming')]
m=sorted(m, key=lambda x: (x.get('role')=='sync_standby', x['name']))
print(m[0]['name']) if m else sys.exit(1)") || die "no running replica to pause"
  t=$(now_ms)
  [[ -n "$(pt_sql "$c" 'SELECT pg_wal_replay_pause()' && echo ok)" ]] || die "pg_wal_replay_pause() failed on $c"
  log "replay paused on $c (leader $l)"
  echo "${PT_PGPORT[$c]}"
  echo "fault_at_ms=$t"
}

# soak pg-unlag : resumes WAL replay on every member that answers (a no-op on the leader).
sk_pg_unlag() {
  local n t; t=$(now_ms)
  for n in "${PT_NODES[@]}"; do
    pt_sql "$n" "SELECT CASE WHEN pg_is_in_recovery() THEN pg_wal_replay_resume() END" >/dev/null || true
  done
  log "replay resumed on every replica"
  echo "fault_at_ms=$t"
}

# soak healed-pg : exit 0 when the Patroni cluster is healthy in its current mode and no replica's replay is paused.
sk_healed_pg() {
  local n p
  pt_healthy "$(pt_sync_mode 2>/dev/null || echo false)" || return 1
  for n in "${PT_NODES[@]}"; do
    p=$(pt_sql "$n" "SELECT pg_is_in_recovery() AND pg_is_wal_replay_paused()") || return 1
    [[ "$p" == f ]] || return 1
  done
}

# soak healed-redis : exit 0 when the sentinels agree on one master with two online replicas.
sk_healed_redis() { rd_healthy; }

soak_main() {
  local verb=${1:-}; shift || true
  case "$verb" in
    pg-lag) sk_pg_lag ;;
    pg-unlag) sk_pg_unlag ;;
    healed-pg) sk_healed_pg ;;
    healed-redis) sk_healed_redis ;;
    *) die "unknown soak verb '$verb' (pg-lag|pg-unlag|healed-pg|healed-redis)" ;;
  esac
}
