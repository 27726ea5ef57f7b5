# shellcheck shell=bash
# The lab's partitionable part ("net"): every node in its own network namespace behind a veth pair into one bridge.
#   hub namespace haclient-net-hub: bridge br0, one port per node (v-NODE) and one (up0) from the root namespace
#   root namespace: hcnet0 10.213.0.254/24 (the client: drills and tests connect from here; nothing binds on it)
#   haclient-net-etcd 10.213.0.10 etcd :2379        haclient-net-p1..p3 10.213.0.11-13 Patroni :8008 + PostgreSQL :5432
#   haclient-net-r1..r3 10.213.0.21-23 Redis :6379 + Sentinel :26379 (master name haclient, quorum 2; r1 starts master)
# Each Patroni member's data directory is on its own tmpfs (size $NET_FS_MB MB; WAL outside it, on /tmp), so that
# `net fill NODE` can fill the data filesystem without touching the WAL: writes then fail with 53100, reads work.
# Cuts (undone by `net heal NODE`):
#   all    : the node's bridge port goes down (cut from everyone: peers, DCS, client)
#   dcs    : blackhole routes inside the node's namespace: a Patroni member to etcd, a Redis node to the other Redis
#            nodes and their Sentinels (its DCS); the client still reaches it
#   client : a blackhole route to the client's address (10.213.0.254) inside the node's namespace
# Everything (namespaces, links, mounts, processes, $NET_DIR) is removed by `net down`.

NET_DIR=$LAB_ROOT/net
NET_PFX=10.213.0
NET_CLIENT=$NET_PFX.254
NET_HUB=haclient-net-hub
NET_ROOT_LINK=hcnet0
NET_FS_MB=${NET_FS_MB:-96}
declare -A NET_ADDR=([etcd]=$NET_PFX.10 [p1]=$NET_PFX.11 [p2]=$NET_PFX.12 [p3]=$NET_PFX.13
                     [r1]=$NET_PFX.21 [r2]=$NET_PFX.22 [r3]=$NET_PFX.23)
NET_PT=(p1 p2 p3)
NET_RD=(r1 r2 r3)

net_ns() { echo "haclient-net-$1"; }
net_exec() { local n=$1; shift; ip netns exec "$(net_ns "$n")" "$@"; }
net_known() { [[ -n "${NET_ADDR[$1]:-}" ]] || die "unknown net node '$1' (etcd p1 p2 p3 r1 r2 r3)"; }
net_has_ns() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$1"; }

# ---------- links ----------
net_links_up() {
  ensure_root; ensure_lab_root; mkdir -p "$NET_DIR"
  if ! net_has_ns "$NET_HUB"; then
    ip netns add "$NET_HUB" || die "ip netns add failed (network namespaces need root and CONFIG_NET_NS)"
    ip -n "$NET_HUB" link set lo up
    ip -n "$NET_HUB" link add br0 type bridge || die "no bridge support in this kernel"
    ip -n "$NET_HUB" link set br0 up
  fi
  if ! ip link show "$NET_ROOT_LINK" >/dev/null 2>&1; then
    ip link add "$NET_ROOT_LINK" type veth peer name up0 netns "$NET_HUB" || die "veth pairs are not supported"
    ip addr add "$NET_CLIENT/24" dev "$NET_ROOT_LINK"
    ip link set "$NET_ROOT_LINK" up
    ip -n "$NET_HUB" link set up0 master br0 up
  fi
}
net_node_link() { # net_node_link NODE : its namespace and its veth into the bridge
  local n=$1 ns; ns=$(net_ns "$1")
  net_has_ns "$ns" && return 0
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  # A namespace deleted just before can leave its bridge port behind for a moment ("File exists"): remove it first.
  ip -n "$NET_HUB" link del "v-$n" 2>/dev/null || true
  ip -n "$NET_HUB" link add "v-$n" type veth peer name eth0 netns "$ns"
  ip -n "$NET_HUB" link set "v-$n" master br0 up
  # A fixed MAC per address: a node rebuilt in a new namespace keeps it, so no neighbour cache (the client's, the
  # other nodes') keeps sending to a vanished one for the ~30 s an entry stays reachable.
  ip -n "$ns" link set eth0 address "$(printf '02:00:0a:d5:00:%02x' "${NET_ADDR[$n]##*.}")"
  ip -n "$ns" addr add "${NET_ADDR[$n]}/24" dev eth0
  ip -n "$ns" link set eth0 up
}

# ---------- cuts ----------
net_targets() { # the addresses a `dcs` cut blackholes for NODE
  case $1 in
    p?) echo "${NET_ADDR[etcd]}" ;;
    r?) local r; for r in "${NET_RD[@]}"; do [[ $r != "$1" ]] && echo "${NET_ADDR[$r]}"; done ;;
    *) die "a dcs cut applies to p1-p3 and r1-r3" ;;
  esac
}
net_cut() { # net_cut NODE all|dcs|client : NODE may be `leader` (the REST majority's) or `master` (the Sentinels')
  local n=$1 kind=$2 t a
  case $n in
    leader) n=$(netpt_leader) || die "no net patroni leader to cut" ;;
    master) n=$(net_master_node) || die "no net redis master to cut" ;;
  esac
  net_known "$n"
  net_has_ns "$(net_ns "$n")" || die "net node $n is not up"
  t=$(now_ms)
  case $kind in
    all) ip -n "$NET_HUB" link set "v-$n" down ;;
    dcs) for a in $(net_targets "$n"); do ip -n "$(net_ns "$n")" route replace blackhole "$a/32"; done ;;
    client) ip -n "$(net_ns "$n")" route replace blackhole "$NET_CLIENT/32" ;;
    *) die "net cut NODE all|dcs|client (got '$kind')" ;;
  esac
  echo "$kind" >> "$NET_DIR/$n.cuts"
  log "net: cut $n from $kind"
  echo "$n"
  echo "fault_at_ms=$t"
}
net_heal() { # net_heal NODE|all : every cut undone
  local n=$1 t a ns nodes=("$1")
  [[ $n == all ]] && nodes=("${!NET_ADDR[@]}")
  t=$(now_ms)
  for n in "${nodes[@]}"; do
    net_known "$n"; ns=$(net_ns "$n")
    net_has_ns "$ns" || continue
    ip -n "$NET_HUB" link set "v-$n" up 2>/dev/null || true
    while read -r a; do ip -n "$ns" route del blackhole "$a" 2>/dev/null || true
    done < <(ip -n "$ns" route show type blackhole 2>/dev/null | awk '{print $2}')
    rm -f "$NET_DIR/$n.cuts"
  done
  log "net: healed ${nodes[*]}"
  echo "fault_at_ms=$t"
}
net_cuts() { local f; for f in "$NET_DIR"/*.cuts; do [[ -f $f ]] && echo "$(basename "$f" .cuts) $(sort -u "$f" | tr '\n' ' ')"; done; return 0; }

# ---------- disk ----------
net_fs() { echo "$NET_DIR/$1-fs"; }
net_fill() { # net_fill NODE : the data filesystem of NODE full (a filler file leaves 64 KB)
  local n=$1 fs avail t; fs=$(net_fs "$n")
  mountpoint -q "$fs" || die "$fs is not mounted (net up patroni first)"
  t=$(now_ms)
  avail=$(df --output=avail -B1 "$fs" | tail -n1 | tr -d ' ')
  (( avail > 65536 )) && fallocate -l $(( avail - 65536 )) "$fs/filler" 2>/dev/null \
    || dd if=/dev/zero of="$fs/filler" bs=64k status=none 2>/dev/null || true
  log "net: filled $fs ($(df --output=avail -B1 "$fs" | tail -n1 | tr -d ' ') bytes left)"
  echo "fault_at_ms=$t"
}
net_unfill() { local n=$1 t; t=$(now_ms); rm -f "$(net_fs "$n")/filler"; log "net: freed $(net_fs "$n")"; echo "fault_at_ms=$t"; }

# net_probe : exit 0 when this machine can build the net part with its cuts (namespaces, veth pairs, a bridge, blackhole
# routes inside a namespace, a sized tmpfs); else print the missing feature and exit 1. A throwaway namespace.
net_probe() {
  local ns="haclient-probe-$$" dir missing=""
  ensure_root
  if ! { ip netns add "$ns" && ip -n "$ns" link add br0 type bridge && ip -n "$ns" link add va type veth peer name vb; } 2>/dev/null; then
    missing="network namespaces, veth pairs or bridges (root and CONFIG_NET_NS, CONFIG_VETH, CONFIG_BRIDGE)"
  elif ! { ip -n "$ns" link set lo up && ip -n "$ns" route add blackhole 10.213.0.254/32; } 2>/dev/null; then
    missing="blackhole routes inside a namespace"
  fi
  ip netns delete "$ns" 2>/dev/null || true
  dir=$(mktemp -d)
  if [[ -z $missing ]] && ! { mount -t tmpfs -o size=1m tmpfs "$dir" && umount "$dir"; } 2>/dev/null; then missing="a sized tmpfs"; fi
  rmdir "$dir" 2>/dev/null || true
  if [[ -n $missing ]]; then echo "net part not supported here: $missing"; return 1; fi
  echo "net part supported"
}

# ---------- status / down ----------
net_status() {
  local n ns
  if ! net_has_ns "$NET_HUB"; then echo "net state=down"; return 0; fi
  for n in etcd "${NET_PT[@]}" "${NET_RD[@]}"; do
    ns=$(net_ns "$n"); net_has_ns "$ns" || continue
    echo "$n addr=${NET_ADDR[$n]} processes=$(ip netns pids "$ns" 2>/dev/null | wc -l) cuts=$(sort -u "$NET_DIR/$n.cuts" 2>/dev/null | tr '\n' ',' | sed 's/,$//')"
  done
  declare -F netpt_status >/dev/null && netpt_status
  declare -F netrd_status >/dev/null && netrd_status
  return 0
}
net_leftovers() {
  net_has_ns "$NET_HUB" && echo "the net part is up (namespaces haclient-net-*): 'bash eng/lab.sh net down' removes it"
  ip link show "$NET_ROOT_LINK" >/dev/null 2>&1 && ! net_has_ns "$NET_HUB" && echo "link $NET_ROOT_LINK is left over"
  local m; for m in $(awk -v d="$NET_DIR/" 'index($2, d) == 1 {print $2}' /proc/mounts); do echo "mount $m is left over"; done
  return 0
}
net_down() {
  local ns pids=() m
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^haclient-net-' || true); do
    mapfile -t -O "${#pids[@]}" pids < <(ip netns pids "$ns" 2>/dev/null)
  done
  if ((${#pids[@]})); then
    signal_pids CONT "${pids[@]}"; signal_pids KILL "${pids[@]}"
    wait_gone 10 "${pids[@]}" || true
  fi
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^haclient-net-' || true); do ip netns delete "$ns"; done
  ip link del "$NET_ROOT_LINK" 2>/dev/null || true
  for m in $(awk -v d="$NET_DIR/" 'index($2, d) == 1 {print $2}' /proc/mounts); do umount -l "$m" 2>/dev/null || true; done
  rm -rf "${NET_DIR:?}"
  log "net down"
}

# shellcheck source=netns-patroni.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns-patroni.sh"
# shellcheck source=netns-redis.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns-redis.sh"
# shellcheck source=netns-soak.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns-soak.sh"

net_main() {
  local verb=${1:-}; shift || true
  case "$verb" in
    up) case ${1:-patroni} in
          patroni) net_links_up; netpt_up ;;
          redis) net_links_up; netrd_up ;;
          all) net_links_up; netpt_up; netrd_up ;;
          *) die "net up patroni|redis|all" ;;
        esac ;;
    down) net_down ;;
    status) net_status ;;
    probe) net_probe ;;
    leftovers) net_leftovers ;;
    cut) [[ $# -ge 1 ]] || die "net cut NODE all|dcs|client"; net_cut "$1" "${2:-all}" ;;
    heal) net_heal "${1:-all}" ;;
    cuts) net_cuts ;;
    fill) net_fill "${1:?net fill NODE}" ;;
    unfill) net_unfill "${1:?net unfill NODE}" ;;
    leader) netpt_leader ;;
    master) netrd_master ;;
    patroni) net_patroni_main "$@" ;;
    redis) net_redis_main "$@" ;;
    healed-pg) net_healed_pg ;;
    healed-redis) net_healed_redis ;;
    *) die "unknown net verb '$verb' (up [patroni|redis|all]|down|status|leftovers|cut NODE|leader|master all|dcs|client|heal NODE|all|cuts|fill NODE|unfill NODE|leader|master|patroni VERB|redis VERB|healed-pg|healed-redis)" ;;
  esac
}
