#!/usr/bin/env bash
# mount.unmount: the ways a mount ends, each with a writer that is blocked in
# the mount at that moment (the server is stopped with SIGSTOP, so nothing
# answers the writer's request): a forced unmount ends the writer with an
# error and the server then exits cleanly; SIGTERM and end of input end the
# server and the writer, never leaving a hung process or a mount behind.
. "$(dirname "$0")/lib.sh"
require_mount
U=62177883-f1bb-47f0-914d-32a22e3a8804
setup_mdev() {
  sim_do "echo $U > /sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/create"
}
blocked_writer() {  # starts a writer while the server is stopped; WRITER_PID
  kill -STOP "$SIM_PID"
  ( echo 5 >"$ROOT/devices/vfio_ap/matrix/$U/assign_adapter" ) 2>"$WORK/writer.err" &
  WRITER_PID=$!
  sleep 0.5
  kill -0 "$WRITER_PID" 2>/dev/null || fail "the writer was not blocked"
}

echo "--- umount -f while a writer is blocked: the writer gets an error"
sim_start "$WORK/sys1"
setup_mdev
blocked_writer
umount -f -l "$ROOT" || fail "umount -f -l"
wait_exit "$WRITER_PID" 10 || fail "the writer hung after the forced unmount"
[ "$WAITED_STATUS" != 0 ] || fail "the writer's write succeeded on an aborted mount"
echo "ok: the writer said: $(cat "$WORK/writer.err")"
kill -CONT "$SIM_PID"
wait_exit "$SIM_PID" 10 || fail "the server did not exit after the forced unmount"
expect "server exit status" 0 "$WAITED_STATUS"
SIM_PID=
fuse_mounted "$ROOT" && fail "still mounted"

echo "--- SIGTERM while a writer is blocked: nothing hangs"
sim_start "$WORK/sys2"
setup_mdev
blocked_writer
kill -TERM "$SIM_PID"
kill -CONT "$SIM_PID"
wait_exit "$SIM_PID" 10 || fail "the server did not exit after SIGTERM"
expect "server exit status after SIGTERM" 0 "$WAITED_STATUS"
wait_exit "$WRITER_PID" 10 || fail "the writer hung after SIGTERM"
echo "ok: the writer ended with status $WAITED_STATUS $(cat "$WORK/writer.err")"
SIM_PID=
fuse_mounted "$ROOT" && fail "still mounted after SIGTERM"
expect "a new open after the end" "no" "$([ -e "$ROOT/devices" ] && echo yes || echo no)"

echo "--- SIGINT and end of input"
sim_start "$WORK/sys3"
kill -INT "$SIM_PID"
wait_exit "$SIM_PID" 10 || fail "the server did not exit after SIGINT"
expect "server exit status after SIGINT" 0 "$WAITED_STATUS"
fuse_mounted "$ROOT" && fail "still mounted after SIGINT"
SIM_PID=
sim_start "$WORK/sys4"
sim_stop
finish
