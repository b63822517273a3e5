#!/usr/bin/env bash
# mount.bash: bash and coreutils drive the mounted model: echo, cat, ls,
# readlink, and the errors exactly as bash prints them. Each step is checked
# against the model through the simulator (check, cat) as well.
. "$(dirname "$0")/lib.sh"
require_mount readlink
sim_start "$WORK/sys"
S=$ROOT
M=$S/devices/vfio_ap/matrix
T=$M/mdev_supported_types/vfio_ap-passthrough
U=62177883-f1bb-47f0-914d-32a22e3a8804

# bash's message for a failed write: "...: write error: TEXT"; the simulator's
# for the same write: "error: ENAME: TEXT". They must agree.
write_error() {  # VALUE PATH-BELOW-/sys
  local err
  err=$( { echo "$1" >"$S/$2"; } 2>&1) && { echo "(no error)"; return; }
  echo "${err##*write error: }"
}
sim_error() {  # VALUE PATH-BELOW-/sys
  local out
  out=$(sim_do "echo '$1' > /sys/$2")
  echo "${out#error: *: }"
}

echo "--- the static tree"
expect "ls of the root" "bus class devices" "$(ls "$S" | tr '\n' ' ' | sed 's/ $//')"
expect "features" "guest_matrix hotplug ap_config" "$(cat "$M/features")"
expect "type name" "VFIO AP Passthrough Device" "$(cat "$T/name")"
expect "device_api" "vfio-ap" "$(cat "$T/device_api")"
expect "class/mdev_bus/matrix" "../../devices/vfio_ap/matrix" "$(readlink "$S/class/mdev_bus/matrix")"
expect "mdev_bus resolves" "$(readlink -f "$M")" "$(readlink -f "$S/class/mdev_bus/matrix")"
expect "mode of apmask" "644" "$(stat -c %a "$S/bus/ap/apmask")"
expect "mode of bind" "200" "$(stat -c %a "$S/bus/ap/drivers/vfio_ap/bind")"
expect "mode of features" "444" "$(stat -c %a "$M/features")"
expect "a path not in the layout" "No such file or directory" \
  "$(cat "$S/bus/ap/no_such_attribute" 2>&1 | sed 's/.*: //')"
expect "a directory not in the layout" "No such file or directory" \
  "$(ls "$S/devices/nowhere" 2>&1 | sed 's/.*: //')"
expect "reading a write-only attribute" "Permission denied" \
  "$(cat "$S/bus/ap/drivers/vfio_ap/bind" 2>&1 | sed 's/.*: //')"
expect "writing a read-only attribute" "Permission denied" \
  "$( { echo 1 >"$M/features"; } 2>&1 | sed 's/.*: //')"
expect "creating a file" "Permission denied" "$( { echo 1 >"$S/bus/ap/new_file"; } 2>&1 | sed 's/.*: //')"
expect "mkdir" "Operation not permitted" "$(mkdir "$S/bus/ap/d" 2>&1 | sed 's/.*: //')"
expect "rm" "Operation not permitted" "$(rm -f "$M/features" 2>&1 | sed 's/.*: //')"

echo "--- the host configuration appears as devices"
sim_do "qci apm=5,6 aqm=4,0x47"
expect "bus/ap/devices" "05.0004 05.0047 06.0004 06.0047 card05 card06" \
  "$(ls "$S/bus/ap/devices" | tr '\n' ' ' | sed 's/ $//')"
expect "queue symlink" "../../../devices/ap/card05/05.0004" "$(readlink "$S/bus/ap/devices/05.0004")"
expect "card symlink" "../../../devices/ap/card05" "$(readlink "$S/bus/ap/devices/card05")"
expect "queue device resolves" "$(readlink -f "$S/devices/ap/card05/05.0004")" \
  "$(readlink -f "$S/bus/ap/devices/05.0004")"
expect "no vfio_ap queues while the host holds them" "bind unbind" \
  "$(ls "$S/bus/ap/drivers/vfio_ap" | tr '\n' ' ' | sed 's/ $//')"
echo -5,-6 >"$S/bus/ap/apmask"
echo -4,-0x47 >"$S/bus/ap/aqmask"
expect "apmask through the shell" "$(sim_do "cat /sys/bus/ap/apmask")" "$(cat "$S/bus/ap/apmask")"
expect "vfio_ap queues after the mask edits" "05.0004 05.0047 06.0004 06.0047 bind unbind" \
  "$(ls "$S/bus/ap/drivers/vfio_ap" | tr '\n' ' ' | sed 's/ $//')"
expect "status of a vfio_ap queue" "unassigned" "$(cat "$S/bus/ap/devices/05.0004/status")"

echo "--- an mdev appears, is assigned, and goes"
expect "available_instances before" "$(sim_do "cat /sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/available_instances")" \
  "$(cat "$T/available_instances")"
echo "$U" >"$T/create"
expect "the mdev directory" "yes" "$([ -d "$M/$U" ] && echo yes)"
expect "bus/mdev/devices/UUID" "../../../devices/vfio_ap/matrix/$U" "$(readlink "$S/bus/mdev/devices/$U")"
expect "type devices/UUID" "../../../$U" "$(readlink "$T/devices/$U")"
expect "mdev_type" "vfio_ap-passthrough" "$(basename "$(readlink -f "$M/$U/mdev_type")")"
for a in assign_adapter unassign_adapter assign_domain unassign_domain assign_control_domain \
  unassign_control_domain control_domains matrix guest_matrix ap_config remove mdev_type; do
  [ -e "$M/$U/$a" ] || [ -L "$M/$U/$a" ] || fail "mdev attribute $a is missing"
done
echo 5 >"$M/$U/assign_adapter"
echo 4 >"$M/$U/assign_domain"
echo 4 >"$M/$U/assign_control_domain"
expect "matrix through bash" "05.0004" "$(cat "$M/$U/matrix")"
expect "matrix through the shell" "05.0004" "$(sim_do "cat /sys/devices/vfio_ap/matrix/$U/matrix")"
expect "control_domains" "0004" "$(cat "$M/$U/control_domains")"
expect "status of an assigned queue" "assigned" "$(cat "$S/bus/ap/devices/05.0004/status")"
expect "assign_adapter 0x100: bash's message is the kernel errno" \
  "$(sim_error 0x100 "devices/vfio_ap/matrix/$U/assign_adapter")" \
  "$(write_error 0x100 "devices/vfio_ap/matrix/$U/assign_adapter")"
expect "assign_domain junk" "$(sim_error junk "devices/vfio_ap/matrix/$U/assign_domain")" \
  "$(write_error junk "devices/vfio_ap/matrix/$U/assign_domain")"
echo +5 >"$S/bus/ap/apmask" || fail "reserving adapter 5 alone (no queue: domain 4 is not reserved)"
expect "taking an assigned queue for the host" "Device or resource busy" \
  "$(write_error +4 bus/ap/aqmask)"
echo -5 >"$S/bus/ap/apmask" || fail "releasing adapter 5"
expect "the assigned queue is still vfio_ap's" "assigned" "$(cat "$S/bus/ap/devices/05.0004/status")"
expect "binding a queue that is bound" "$(sim_error 05.0047 bus/ap/drivers/vfio_ap/bind)" \
  "$(write_error 05.0047 bus/ap/drivers/vfio_ap/bind)"
echo "--- any bytes: the store's rules or EINVAL, and the model stays whole"
printf '' >"$M/$U/assign_domain" || fail "an empty write failed"
head -c 5000 /dev/urandom >"$WORK/random"
cat "$WORK/random" >"$M/$U/assign_domain" 2>/dev/null && fail "5000 random bytes were accepted"
printf '7\0junk' >"$M/$U/assign_domain" 2>/dev/null
head -c 10000 /dev/zero | tr '\0' 5 >"$M/$U/assign_adapter" 2>/dev/null && fail "10000 digits were accepted"
expect "matrix after the junk" "$(sim_do "cat /sys/devices/vfio_ap/matrix/$U/matrix")" "$(cat "$M/$U/matrix")"
expect "check after the junk" "ok" "$(sim_do check)"

echo "--- unbind removes the driver's link and the status"
echo 05.0004 >"$S/bus/ap/drivers/vfio_ap/unbind"
expect "link gone" "no" "$([ -L "$S/bus/ap/drivers/vfio_ap/05.0004" ] && echo yes || echo no)"
expect "status gone" "No such file or directory" \
  "$(cat "$S/bus/ap/devices/05.0004/status" 2>&1 | sed 's/.*: //')"
echo 05.0004 >"$S/bus/ap/drivers/vfio_ap/bind"
expect "link back" "yes" "$([ -L "$S/bus/ap/drivers/vfio_ap/05.0004" ] && echo yes || echo no)"

echo "--- an attribute open while its mdev goes answers ENODEV"
exec 8>"$M/$U/assign_domain"
echo 1 >"$M/$U/remove"
expect "mdev directory gone" "no" "$([ -e "$M/$U" ] && echo yes || echo no)"
expect "bus/mdev link gone" "no" "$([ -L "$S/bus/mdev/devices/$U" ] && echo yes || echo no)"
expect "write to the open attribute" "No such device" \
  "$( { echo 4 >&8; } 2>&1 | sed 's/.*write error: //')"
exec 8>&-
expect "check" "ok" "$(sim_do check)"

echo "--- nothing the kernel caches goes stale"
# The mount lets the kernel cache names no state can remove (M5). Each name
# below is walked several times first (so whatever may be cached is), then
# changed by the other side, and the very next access must see the change.
gone() { "$@" 2>&1 >/dev/null | sed 's/.*: //'; }  # COMMAND...: its error text
# PATH: "yes" if lstat(2) finds it (bash's test: a plain stat that the
# kernel answers from its cache when it may; stat(1) asks for more and
# always reaches the server).
exists() { if [ -e "$1" ] || [ -L "$1" ]; then echo yes; else echo no; fi; }
SM=/sys/devices/vfio_ap/matrix
echo "$U" >"$T/create"
echo 5 >"$M/$U/assign_adapter"
walk() {
  local i
  for ((i = 0; i < 3; ++i)); do
    cat "$M/$U/matrix" "$S/bus/mdev/devices/$U/matrix" "$S/bus/ap/devices/05.0004/status" \
      "$S/bus/ap/devices/card06/06.0004/status" >/dev/null
    stat "$M/$U" "$M/$U/matrix" "$S/bus/ap/devices/card06" "$T/devices/$U" >/dev/null
    exists "$M/$U" >/dev/null; exists "$M/$U/matrix" >/dev/null; exists "$T/devices/$U" >/dev/null
    exists "$S/bus/mdev/devices/$U" >/dev/null; exists "$S/devices/ap/card06" >/dev/null
    ls "$M" "$M/$U" "$S/bus/ap/devices" >/dev/null
  done
}
walk
expect "matrix before" "05." "$(cat "$M/$U/matrix")"
sim_do "echo 4 > $SM/$U/assign_domain"
expect "a store by the simulator is read at once" "05.0004" "$(cat "$M/$U/matrix")"
echo 4 >"$M/$U/unassign_domain"
expect "a store through the mount is read at once" "05." "$(cat "$S/bus/mdev/devices/$U/matrix")"
walk
sim_do "echo 1 > $SM/$U/remove"
expect "an mdev the simulator removed: its directory is ENOENT at once" no "$(exists "$M/$U")"
expect "... its attribute" "No such file or directory" "$(gone cat "$M/$U/matrix")"
expect "... its attribute through bus/mdev" "No such file or directory" \
  "$(gone cat "$S/bus/mdev/devices/$U/matrix")"
expect "... the type's link" no "$(exists "$T/devices/$U")"
expect "... the bus/mdev link" no "$(exists "$S/bus/mdev/devices/$U")"
expect "... not listed" "features mdev_supported_types" "$(ls "$M" | tr '\n' ' ' | sed 's/ $//')"
sim_do "echo $U > $SM/mdev_supported_types/vfio_ap-passthrough/create"
expect "an mdev the simulator created appears at once" "yes" "$([ -d "$M/$U" ] && echo yes)"
walk
echo 1 >"$M/$U/remove"
expect "an mdev removed through the mount: ENOENT at once" no "$(exists "$M/$U/matrix")"
echo "$U" >"$T/create"
expect "a name within a removed directory, from inside it" no \
  "$(cd "$M/$U" && sim_do "echo 1 > $SM/$U/remove" && exists matrix)"
echo "$U" >"$T/create"
walk
sim_do "echo 05.0004 > /sys/bus/ap/drivers/vfio_ap/unbind"
expect "the status of a queue the simulator unbound: ENOENT at once" "No such file or directory" \
  "$(gone cat "$S/bus/ap/devices/05.0004/status")"
expect "... its driver link" no "$(exists "$S/bus/ap/drivers/vfio_ap/05.0004")"
sim_do "qci apm=5 aqm=4,0x47"
expect "a card the configuration lost: ENOENT at once" no "$(exists "$S/bus/ap/devices/card06")"
expect "... its device directory" no "$(exists "$S/devices/ap/card06")"
expect "... its queue's status" "No such file or directory" \
  "$(gone cat "$S/bus/ap/devices/card06/06.0004/status")"
expect "... the queue link" no "$(exists "$S/bus/ap/devices/06.0004")"
sim_do "qci apm=5,6 aqm=4,0x47"
expect "a card the configuration gained appears at once" "06.0004" \
  "$(basename "$(readlink "$S/bus/ap/devices/06.0004")")"
expect "check after the changes" "ok" "$(sim_do check)"

echo "--- fusermount3 -u ends the server"
fusermount3 -u "$ROOT" || fail "fusermount3 -u failed"
wait_exit "$SIM_PID" 30 || fail "vfio-ap-sim did not exit after fusermount3 -u"
expect "exit status after fusermount3 -u" 0 "$WAITED_STATUS"
SIM_PID=
fuse_mounted "$ROOT" && fail "still mounted"
finish
