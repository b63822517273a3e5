#!/usr/bin/env bash
# mount.mdevctl: Debian's mdevctl drives the mounted model through the real
# paths (/sys/class/mdev_bus, /sys/bus/mdev/devices, /etc/mdevctl.d), in a
# private mount namespace where vfio-ap-sim --mount /sys serves the model
# and a tmpfs is /etc/mdevctl.d. Every mdevctl step is checked in the model
# too: the simulator's check, cat, kvm refs and pqap.
# Usage: mdevctl_test.sh HOST.sim
. "$(dirname "$0")/lib.sh"
require_mount mdevctl
require_namespace
if [ -z "${VFIO_AP_IN_NAMESPACE:-}" ]; then
  rm -rf "$WORK"
  trap - EXIT
  exec unshare --mount --propagation private env VFIO_AP_IN_NAMESPACE=1 bash "$0" "$@"
fi
mount -t tmpfs vfio-ap-test /etc/mdevctl.d
mkdir -p /etc/mdevctl.d/scripts.d/callouts /etc/mdevctl.d/scripts.d/notifiers
sim_start /sys "$1"
U1=62177883-f1bb-47f0-914d-32a22e3a8804
U2=0fe03cd2-1a8e-4f86-96a6-a9e6e8a7ed34
M=/sys/devices/vfio_ap/matrix
AVAIL=$(sim_do "cat $M/mdev_supported_types/vfio_ap-passthrough/available_instances")

echo "--- mdevctl types"
expect "types (text)" "matrix
  vfio_ap-passthrough
    Available instances: $AVAIL
    Device API: vfio-ap
    Name: VFIO AP Passthrough Device" "$(mdevctl types)"
mdevctl types --dumpjson >"$WORK/types.json"
grep -q '"vfio_ap-passthrough"' "$WORK/types.json" && grep -q "\"available_instances\": $AVAIL" "$WORK/types.json" ||
  fail "types --dumpjson: $(cat "$WORK/types.json")"

echo "--- mdevctl define --jsonfile, with attributes"
cat >"$WORK/u1.json" <<'JSON'
{"mdev_type": "vfio_ap-passthrough", "start": "manual",
 "attrs": [{"assign_adapter": "5"}, {"assign_domain": "4"}, {"assign_control_domain": "0x47"}]}
JSON
mdevctl define -u "$U1" -p matrix --jsonfile "$WORK/u1.json" || fail "define $U1"
expect "the definition is stored" "yes" "$([ -f "/etc/mdevctl.d/matrix/$U1" ] && echo yes)"
expect "list --defined" "$U1 matrix vfio_ap-passthrough manual" "$(mdevctl list --defined)"
expect "nothing active yet" "" "$(mdevctl list)"
expect "no mdev in the model yet" "$AVAIL" \
  "$(sim_do "cat $M/mdev_supported_types/vfio_ap-passthrough/available_instances")"

echo "--- mdevctl start: the mdev appears with its matrix"
mdevctl start -u "$U1" || fail "start $U1"
expect "matrix (the model)" "05.0004" "$(sim_do "cat $M/$U1/matrix")"
expect "control_domains (the model)" "0047" "$(sim_do "cat $M/$U1/control_domains")"
expect "queue status" "assigned" "$(sim_do "cat /sys/bus/ap/devices/05.0004/status")"
expect "available_instances" "$((AVAIL - 1))" \
  "$(cat "$M/mdev_supported_types/vfio_ap-passthrough/available_instances")"
expect "list (active)" "$U1 matrix vfio_ap-passthrough manual (defined)" "$(mdevctl list)"
expect "list --defined" "$U1 matrix vfio_ap-passthrough manual (active)" "$(mdevctl list --defined)"
mdevctl list --dumpjson >"$WORK/active.json"
grep -q "\"$U1\"" "$WORK/active.json" && grep -q '"assign_control_domain": "0x47"' "$WORK/active.json" ||
  fail "list --dumpjson: $(cat "$WORK/active.json")"
mdevctl list --defined --dumpjson >"$WORK/defined.json"
grep -q '"mdev_type": "vfio_ap-passthrough"' "$WORK/defined.json" || fail "list --defined --dumpjson"
expect "check after start" "ok" "$(sim_do check)"

echo "--- a guest uses it"
sim_do kvm create guest1
EMPTY_CRYCB=$(sim_do kvm crycb guest1)
sim_do vfio open "$U1" guest1
expect "guest references while open" "2" "$(sim_do kvm refs guest1)"
expect "PQAP of an assigned queue" "rc=0x00" "$(sim_do pqap guest1 05.0004)"
expect "guest_matrix" "05.0004" "$(cat "$M/$U1/guest_matrix")"

echo "--- mdevctl start of a definition the model refuses"
cat >"$WORK/u2.json" <<'JSON'
{"mdev_type": "vfio_ap-passthrough", "start": "manual",
 "attrs": [{"assign_adapter": "5"}, {"assign_domain": "4"}]}
JSON
mdevctl define -u "$U2" -p matrix --jsonfile "$WORK/u2.json" || fail "define $U2"
err=$(mdevctl start -u "$U2" 2>&1) && fail "start of $U2 (05.0004 is $U1's) succeeded"
echo "mdevctl said: $err"
case "$err" in
  *"Failed to write 4 to attribute assign_domain"*"Address already in use"*) echo "ok: mdevctl reports the model's EADDRINUSE" ;;
  *) fail "mdevctl's message does not name the refused attribute and the kernel's error" ;;
esac
expect "the half-made mdev was removed" "no" "$([ -e "$M/$U2" ] && echo yes || echo no)"
expect "no bus/mdev link left" "no" "$([ -L "/sys/bus/mdev/devices/$U2" ] && echo yes || echo no)"
expect "only $U1 active" "$U1 matrix vfio_ap-passthrough manual (defined)" "$(mdevctl list)"
expect "$U1 untouched" "05.0004" "$(sim_do "cat $M/$U1/matrix")"
expect "check after the refused start" "ok" "$(sim_do check)"

echo "--- mdevctl stop: the mdev is gone, its queues reset, the guest let go"
mdevctl stop -u "$U1" || fail "stop $U1"
expect "mdev directory gone" "no" "$([ -e "$M/$U1" ] && echo yes || echo no)"
expect "list (active) empty" "" "$(mdevctl list)"
expect "the guest's reference was dropped" "1" "$(sim_do kvm refs guest1)"
expect "the guest's CRYCB is empty again" "$EMPTY_CRYCB" "$(sim_do kvm crycb guest1)"
expect "PQAP after stop" "rc=0x01" "$(sim_do pqap guest1 05.0004)"
expect "queue status after stop" "unassigned" "$(cat /sys/bus/ap/devices/05.0004/status)"
# I3 of check: a queue that left a guest's APCB was reset (ZAPQ).
expect "check after stop (queues reset)" "ok" "$(sim_do check)"
sim_do kvm destroy guest1

echo "--- mdevctl undefine"
mdevctl undefine -u "$U1" || fail "undefine $U1"
mdevctl undefine -u "$U2" || fail "undefine $U2"
expect "list --defined empty" "" "$(mdevctl list --defined)"
expect "definitions removed" "no" "$([ -e "/etc/mdevctl.d/matrix/$U1" ] && echo yes || echo no)"
expect "available_instances back" "$AVAIL" \
  "$(cat "$M/mdev_supported_types/vfio_ap-passthrough/available_instances")"
expect "final check" "ok" "$(sim_do check)"
sim_stop
finish
