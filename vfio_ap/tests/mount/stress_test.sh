#!/usr/bin/env bash
# mount.stress: many writers at once through the mount. Four bash writers
# (mdevs created, assigned, unassigned and removed; queues unbound and bound;
# apmask/aqmask edits; readers of every attribute and directory) run against
# the mounted model while the simulator's standard input changes the host
# configuration (qci) and guests open mdevs and call PQAP. Afterwards the
# model's invariants hold (check prints ok), every module pin and guest
# reference is back to what it was at the start (lsmod and kvm list, after
# a warm-up round of the simulator's input), every process has exited, and
# the server's resident memory at the end is within a small bound of what it
# was after warm-up (both printed; asserted only without sanitizers, whose
# allocators keep freed memory in quarantine). About 15 s.
# Usage: stress_test.sh HOST.sim      Environment: STRESS_SECONDS (default 12)
. "$(dirname "$0")/lib.sh"
require_mount
SECONDS_TOTAL=${STRESS_SECONDS:-12}
WARMUP=3
RSS_BOUND_KB=${RSS_BOUND_KB:-2048}
sim_start "$WORK/sys" "$1"
S=$ROOT
M=$S/devices/vfio_ap/matrix
T=$M/mdev_supported_types/vfio_ap-passthrough
UUIDS=(62177883-f1bb-47f0-914d-32a22e3a8804 0fe03cd2-1a8e-4f86-96a6-a9e6e8a7ed34
  a6cf4ec7-8b1b-4a08-9e26-77ad6a7a3cb9)

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$SIM_PID/status"; }

# writer N DEADLINE: one shell's loop; prints how many writes it made.
mdev_writer() {  # an mdev of its own: create, assign, unassign, remove
  local u=$1 end=$2 n=0
  while [ "$(date +%s)" -lt "$end" ]; do
    echo "$u" >"$T/create"
    echo 5 >"$M/$u/assign_adapter"
    echo 6 >"$M/$u/assign_adapter"
    echo 4 >"$M/$u/assign_domain"
    echo 0x47 >"$M/$u/assign_control_domain"
    cat "$M/$u/matrix" "$M/$u/guest_matrix" >/dev/null
    echo 4 >"$M/$u/unassign_domain"
    echo 0x47 >"$M/$u/assign_domain"
    echo 1 >"$M/$u/remove"
    n=$((n + 9))
  done 2>/dev/null
  echo "$n"
}
bind_writer() {
  local end=$1 n=0 q
  while [ "$(date +%s)" -lt "$end" ]; do
    for q in 05.0004 06.0047 05.0047; do
      echo "$q" >"$S/bus/ap/drivers/vfio_ap/unbind"
      echo "$q" >"$S/bus/ap/drivers/vfio_ap/bind"
      n=$((n + 2))
    done
  done 2>/dev/null
  echo "$n"
}
mask_writer() {
  local end=$1 n=0
  while [ "$(date +%s)" -lt "$end" ]; do
    echo +6 >"$S/bus/ap/apmask"
    echo +0x47 >"$S/bus/ap/aqmask"
    echo -6 >"$S/bus/ap/apmask"
    echo -0x47 >"$S/bus/ap/aqmask"
    n=$((n + 4))
  done 2>/dev/null
  echo "$n"
}
reader() {
  local end=$1 n=0 f
  while [ "$(date +%s)" -lt "$end" ]; do
    ls -R "$S" >/dev/null
    for f in "$M"/*/matrix "$M"/*/ap_config "$S"/bus/ap/devices/*/status "$S/bus/ap/apmask"; do
      cat "$f" >/dev/null
      n=$((n + 1))
    done
  done 2>/dev/null
  echo "$n"
}

# The guests, and one quiet round of the simulator's input before any
# writer runs (warm-up): the module pins and guest references then are the
# start state the end must come back to.
sim_do kvm create guest1 >/dev/null
sim_do kvm create guest2 >/dev/null
sim_round() {
  case $(($1 % 3)) in
    0) sim_do qci apm=5 ;;
    1) sim_do qci apm=5,6,7 ;;
    2) sim_do qci apm=5,6 aqm=4,0x47,0xab ;;
  esac >/dev/null
  sim_do vfio open "${UUIDS[0]}" guest1 >/dev/null
  sim_do vfio open "${UUIDS[1]}" guest2 >/dev/null
  sim_do pqap guest1 05.0004 >/dev/null
  sim_do pqap guest2 06.0004 >/dev/null
  sim_do vfio close "${UUIDS[0]}" >/dev/null
  sim_do vfio close "${UUIDS[1]}" >/dev/null
}
for u in "${UUIDS[0]}" "${UUIDS[1]}"; do
  echo "$u" >"$T/create"
  echo 5 >"$M/$u/assign_adapter"
  echo 4 >"$M/$u/assign_domain"
done
sim_round 2
start_refs=$(sim_do lsmod; sim_do kvm list)
echo "module pins and guest references at the start:" $start_refs
case "$start_refs" in
  *"kvm "*"vfio_ap "*"guest1 1"*"guest2 1"*) ;;
  *) fail "lsmod and kvm list print the modules and guests: $start_refs" ;;
esac
echo 1 >"$M/${UUIDS[0]}/remove"
echo 1 >"$M/${UUIDS[1]}/remove"

start=$(date +%s)
end=$((start + SECONDS_TOTAL))
mdev_writer "${UUIDS[0]}" "$end" >"$WORK/w0" &
mdev_writer "${UUIDS[1]}" "$end" >"$WORK/w1" &
bind_writer "$end" >"$WORK/w2" &
mask_writer "$end" >"$WORK/w3" &
reader "$end" >"$WORK/w4" &
writers=$(jobs -p | grep -v "^$SIM_PID\$")

# The simulator's standard input: configuration changes and guests, until
# the writers' deadline.
rounds=0
warm_rss=
while [ "$(date +%s)" -lt "$end" ]; do
  sim_round "$rounds"
  rounds=$((rounds + 1))
  if [ -z "$warm_rss" ] && [ "$(date +%s)" -ge $((start + WARMUP)) ]; then
    warm_rss=$(rss_kb)
  fi
done

hung=0
for w in $writers; do
  wait_exit "$w" 20 || { hung=$((hung + 1)); kill -KILL "$w" 2>/dev/null; }
done
expect "no writer hung" 0 "$hung"
writes=$(( $(cat "$WORK"/w0 "$WORK"/w1 "$WORK"/w2 "$WORK"/w3 | paste -sd+) ))
reads=$(cat "$WORK/w4")
echo "writes through the mount: $writes, reads: $reads, simulator rounds: $rounds"
[ "${writes:-0}" -gt 0 ] || fail "no write went through"
[ "$rounds" -gt 0 ] || fail "the simulator's input made no round"

# Guests closed by the driver; an mdev a writer left may still be open only if
# its open succeeded after the last close: close whatever is open, quietly.
for u in "${UUIDS[@]}"; do sim_do vfio close "$u" >/dev/null; done
expect "guest1 references back to its creator's" 1 "$(sim_do kvm refs guest1)"
expect "guest2 references back to its creator's" 1 "$(sim_do kvm refs guest2)"
end_refs=$(sim_do lsmod; sim_do kvm list)
echo "module pins and guest references at the end:  " $end_refs
expect "every module pin and guest reference back to its start" "$start_refs" "$end_refs"
sim_do kvm destroy guest1
sim_do kvm destroy guest2
expect "no guest left" "" "$(sim_do kvm list)"
expect "check after the stress" "ok" "$(sim_do check)"
end_rss=$(rss_kb)
echo "server RSS after warm-up: ${warm_rss} kB, at the end: ${end_rss} kB"
if [ -n "${SANITIZED:-}" ]; then
  echo "ok: (sanitized build: the RSS bound is not asserted)"
elif [ -n "$warm_rss" ] && [ "$end_rss" -le $((warm_rss + RSS_BOUND_KB)) ]; then
  echo "ok: RSS grew by at most ${RSS_BOUND_KB} kB"
else
  fail "server RSS grew from ${warm_rss} kB to ${end_rss} kB (bound ${RSS_BOUND_KB} kB)"
fi
sim_stop
finish
