#!/usr/bin/env bash
# mount.exec: vfio-ap-sim --exec [SCRIPT] -- COMMAND runs COMMAND in a private
# mount namespace where /sys is the model and /etc/mdevctl.d an empty tmpfs;
# its exit status is COMMAND's; nothing outside the namespace changes; without
# root it says so and fails.
# Usage: exec_test.sh HOST.sim
. "$(dirname "$0")/lib.sh"
require_mount mdevctl setpriv
require_namespace
U=62177883-f1bb-47f0-914d-32a22e3a8804
outside_sys=$(ls /sys)
outside_etc=$(ls -A /etc/mdevctl.d 2>/dev/null)

echo "--- the issue's example: mdevctl start on the simulated host"
out=$("$SIM" --exec "$1" -- mdevctl start -u "$U" -p matrix -t vfio_ap-passthrough 2>"$WORK/err")
expect "mdevctl start exit status" 0 "$?"
expect "the script's output and mdevctl's" "" "$out"

echo "--- several steps on one host with bash -c"
out=$("$SIM" --exec "$1" -- bash -c '
  mdevctl start -u '"$U"' -p matrix -t vfio_ap-passthrough || exit 10
  echo 5 > /sys/bus/mdev/devices/'"$U"'/assign_adapter || exit 11
  echo 0x47 > /sys/bus/mdev/devices/'"$U"'/assign_domain || exit 12
  cat /sys/bus/mdev/devices/'"$U"'/matrix
  mdevctl list
  ls -A /etc/mdevctl.d /etc/mdevctl.d/scripts.d
  mdevctl stop -u '"$U"' || exit 13
  ls /sys/devices/vfio_ap/matrix' 2>>"$WORK/err")
expect "bash -c exit status" 0 "$?"
expect "bash -c output" "05.0047
$U matrix vfio_ap-passthrough manual

/etc/mdevctl.d:
scripts.d

/etc/mdevctl.d/scripts.d:
callouts
notifiers
features
mdev_supported_types" "$out"

echo "--- COMMAND's exit status, and a signal's"
"$SIM" --exec -- bash -c 'exit 7' 2>>"$WORK/err"
expect "exit 7" 7 "$?"
"$SIM" --exec -- bash -c 'kill -TERM $$' 2>>"$WORK/err"
expect "killed by SIGTERM" 143 "$?"
"$SIM" --exec -- /nonexistent/command 2>"$WORK/err2"
expect "a command that cannot run" 127 "$?"
grep -q "cannot run /nonexistent/command" "$WORK/err2" || fail "no message for a command that cannot run"
"$SIM" --exec "$1" -- bash -c 'echo 1 > /sys/bus/ap/drivers/vfio_ap/bind' 2>"$WORK/err3"
expect "a failed write fails COMMAND" 1 "$?"
grep -q "write error: No such device" "$WORK/err3" || fail "bash did not print ENODEV: $(cat "$WORK/err3")"

echo "--- nothing outside the namespace changed"
expect "/sys outside" "$outside_sys" "$(ls /sys)"
expect "no vfio_ap outside" "no" "$([ -e /sys/devices/vfio_ap ] && echo yes || echo no)"
expect "/etc/mdevctl.d outside" "$outside_etc" "$(ls -A /etc/mdevctl.d 2>/dev/null)"

echo "--- without root: a clear message and a failure"
setpriv --reuid=65534 --regid=65534 --clear-groups "$SIM" --exec -- true >"$WORK/out4" 2>"$WORK/err4"
status=$?
[ "$status" -ne 0 ] || fail "--exec as a user succeeded"
grep -q -- "--exec needs root" "$WORK/err4" || fail "no message about root: $(cat "$WORK/err4")"
echo "ok: as nobody: $(cat "$WORK/err4") (status $status)"
"$SIM" --exec 2>/dev/null
expect "usage error" 64 "$?"
finish
