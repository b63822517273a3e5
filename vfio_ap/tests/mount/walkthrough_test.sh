#!/usr/bin/env bash
# mount.walkthrough: the documentation's walk-through (walkthrough.sim) run as
# a bash script against the mounted model — real echo, cat and cd on the
# mount, the host-side commands through the simulator's standard input —
# prints exactly walkthrough.expected, as the simulator's own shell does.
# Usage: walkthrough_test.sh WALKTHROUGH.sim WALKTHROUGH.expected
. "$(dirname "$0")/lib.sh"
require_mount
bash "$(dirname "$0")/walkthrough_to_bash.sh" "$1" >"$WORK/walkthrough.bash" ||
  { echo "cannot translate $1"; exit 1; }
sim_start "$WORK/sys"
actual=$(cd "$WORK" && . "$WORK/walkthrough.bash"; echo x)
actual=${actual%x}
expected=$(cat "$2"; echo x)
expected=${expected%x}
if [ "$actual" == "$expected" ]; then
  echo "ok: the walk-through through the mount prints walkthrough.expected"
else
  fail "the walk-through through the mount differs from walkthrough.expected"
  diff <(printf '%s' "$expected") <(printf '%s' "$actual") | head -40
fi
sim_stop
finish
