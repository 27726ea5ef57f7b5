# shellcheck shell=bash
# Brownout: a server slowed without being stopped, by freezing and thawing its process tree in a duty cycle (SIGSTOP for
# STOP_MS of every PERIOD_MS, default 40 of 50), in a background loop bounded in time (at most 120 s) and in cycles.
# The kernel still completes connects and buffers requests while the tree is frozen; each request waits for the next
# thaw, so a round trip takes up to STOP_MS longer and the server does about (PERIOD_MS - STOP_MS) / PERIOD_MS of its work.
# One loop per target, its pid in $LAB_ROOT/brownout/<part>-<target>.pid. The loop thaws the tree whenever it ends
# (its duration, a TERM, an error); brownout_stop PART also thaws, and every `resume`, `up`, `down` and `reset` of the
# part calls it first.

BROWNOUT_DIR=$LAB_ROOT/brownout
BROWNOUT_MAX_S=120

# brownout_loop END_MS STOP_MS PERIOD_MS ROOT_PID : the duty cycle over ROOT_PID and its descendants (re-listed every
# 10 cycles, while thawed, to catch new backends). Bounded by END_MS and by a cycle count.
brownout_loop() {
  local end=$1 stop_ms=$2 period_ms=$3 root=$4 pids=() cycle=0
  local max_cycles=$(( (BROWNOUT_MAX_S * 1000) / period_ms + 1 ))
  local stop_s run_s
  stop_s=$(printf '0.%03d' "$stop_ms"); run_s=$(printf '0.%03d' $((period_ms - stop_ms)))
  ((stop_ms >= 1000)) && stop_s=$((stop_ms / 1000))
  thaw() { [[ ${#pids[@]} -gt 0 ]] && kill -CONT "${pids[@]}" 2>/dev/null; return 0; }
  trap 'thaw; exit 0' TERM INT
  trap 'thaw' EXIT
  while (( $(now_ms) < end && cycle < max_cycles )); do
    if (( cycle % 10 == 0 )); then
      [[ -e /proc/$root ]] || break
      mapfile -t pids < <(proc_tree "$root")
    fi
    kill -STOP "${pids[@]}" 2>/dev/null || true
    sleep "$stop_s"
    kill -CONT "${pids[@]}" 2>/dev/null || true
    sleep "$run_s"
    cycle=$((cycle + 1))
  done
  thaw
}

# brownout_start PART TARGET ROOT_PID DURATION_S [STOP_MS] [PERIOD_MS] : starts the loop in the background (no inherited
# descriptors: it must not pin the lab lock or a caller's pipes) and returns at once.
brownout_start() {
  local part=$1 target=$2 root=$3 duration=$4 stop_ms=${5:-40} period_ms=${6:-50}
  [[ "$duration" =~ ^[0-9]+$ ]] && ((duration >= 1 && duration <= BROWNOUT_MAX_S)) || die "brownout duration must be 1-$BROWNOUT_MAX_S seconds"
  [[ "$period_ms" =~ ^[0-9]+$ ]] && ((period_ms >= 10 && period_ms <= 999)) || die "brownout period must be 10-999 ms"
  [[ "$stop_ms" =~ ^[0-9]+$ ]] && ((stop_ms >= 1 && stop_ms < period_ms)) || die "brownout stop time must be 1 ms to less than the period"
  brownout_stop "$part" "$target"
  mkdir -p "$BROWNOUT_DIR"
  local end=$(( $(now_ms) + duration * 1000 ))
  ( brownout_loop "$end" "$stop_ms" "$period_ms" "$root" ) </dev/null >/dev/null 2>>"$BROWNOUT_DIR/brownout.log" 9>&- 8>&- &
  echo $! > "$BROWNOUT_DIR/$part-$target.pid"
  log "brownout of $part $target: SIGSTOP ${stop_ms} ms of every ${period_ms} ms for ${duration} s (loop pid $!)"
}

# brownout_stop PART [TARGET] : ends the part's loops (all, or TARGET's) and waits for them; each thaws its tree.
brownout_stop() {
  local part=$1 target=${2:-*} f pid pids=()
  [[ -d "$BROWNOUT_DIR" ]] || return 0
  for f in "$BROWNOUT_DIR"/$part-$target.pid; do
    [[ -e "$f" ]] || continue
    pid=$(read_pid "$f")
    if [[ -n "$pid" && -e /proc/$pid ]] && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q 'lab.sh'; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
    rm -f "$f"
  done
  ((${#pids[@]})) || return 0
  wait_gone 5 "${pids[@]}" || signal_pids KILL "${pids[@]}"
  log "brownout of $part stopped"
}

# brownout_running PART : the targets whose loop still runs (for leftovers).
brownout_running() {
  local part=$1 f pid
  [[ -d "$BROWNOUT_DIR" ]] || return 0
  for f in "$BROWNOUT_DIR"/$part-*.pid; do
    [[ -e "$f" ]] || continue
    pid=$(read_pid "$f")
    [[ -n "$pid" && -e /proc/$pid ]] && { f=${f##*/}; f=${f%.pid}; echo "${f#"$part"-}"; }
  done
  return 0
}
