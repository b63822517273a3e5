# vfio_ap/tests/mount/lib.sh — sourced by the mount tests (label `mount`).
#
# A test runs vfio-ap-sim --mount DIR as a bash coprocess: the model is then
# driven by real programs through DIR, and by simulator commands (qci, kvm,
# vfio, pqap, check, ...) written to the coprocess's standard input, whose
# answers are read back up to a marker line.
#
# Environment (set by CTest): SIM, the vfio-ap-sim binary; HAVE_FUSE, ON when
# it was built with libfuse3. A test that cannot run here (not root, no
# /dev/fuse, a missing program) prints why and exits 77, which CTest reports
# as skipped (SKIP_RETURN_CODE), never as passed.
set -u

SKIP_STATUS=77
FAILURES=0

skip() {
  echo "SKIPPED: $*"
  exit "$SKIP_STATUS"
}

# require_mount [PROGRAM...]: the prerequisites of every mount test, plus the
# named programs.
require_mount() {
  [ "${HAVE_FUSE:-OFF}" = ON ] || skip "vfio-ap-sim was built without libfuse3 (libfuse3-dev)"
  [ "$(id -u)" = 0 ] || skip "not root: mounting a FUSE filesystem over a private /sys needs root"
  [ -c /dev/fuse ] || skip "no /dev/fuse (is the fuse module loaded?)"
  { exec 9<>/dev/fuse; } 2>/dev/null || skip "/dev/fuse cannot be opened here"
  exec 9>&-
  command -v fusermount3 >/dev/null || skip "fusermount3 is missing (Debian fuse3)"
  local p
  for p in "$@"; do
    command -v "$p" >/dev/null || skip "$p is missing"
  done
}

# require_namespace: a private mount namespace can be made (root in a
# container without CAP_SYS_ADMIN cannot).
require_namespace() {
  command -v unshare >/dev/null || skip "unshare is missing (util-linux)"
  unshare --mount --propagation private true 2>/dev/null ||
    skip "cannot make a private mount namespace here (unshare --mount failed)"
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vfio-ap-mount.XXXXXX")
cleanup() {
  if [ -n "${SIM_PID:-}" ] && kill -0 "$SIM_PID" 2>/dev/null; then
    kill -TERM "$SIM_PID" 2>/dev/null
    wait "$SIM_PID" 2>/dev/null
  fi
  [ -n "${ROOT:-}" ] && fuse_mounted "$ROOT" && fusermount3 -u -z "$ROOT" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*"
  FAILURES=$((FAILURES + 1))
}

# expect NAME EXPECTED ACTUAL
expect() {
  if [ "$2" == "$3" ]; then
    echo "ok: $1"
  else
    fail "$1"
    echo "  expected: $(printf '%q' "$2")"
    echo "  actual:   $(printf '%q' "$3")"
  fi
}

# sim_start DIR [SCRIPT]: vfio-ap-sim --mount DIR [SCRIPT] as a coprocess;
# returns once the mount serves (the first command's answer arrives only
# after the mount is up). The script's output is left in SIM_SCRIPT_OUTPUT.
sim_start() {
  ROOT=$1
  mkdir -p "$ROOT"
  coproc SIMP { exec "$SIM" --mount "$@" 2>>"$WORK/sim.err"; }
  SIM_PID=$SIMP_PID
  exec {SIM_IN}>&"${SIMP[1]}" {SIM_OUT}<&"${SIMP[0]}"
  eval "exec ${SIMP[1]}>&- ${SIMP[0]}<&-"  # only our copies: closing SIM_IN is end of input
  SIM_SCRIPT_OUTPUT=$(sim_do check)
  case "$SIM_SCRIPT_OUTPUT" in
    *ok) SIM_SCRIPT_OUTPUT=${SIM_SCRIPT_OUTPUT%ok} ;;
    *) echo "vfio-ap-sim did not start:"; cat "$WORK/sim.err"; exit 1 ;;
  esac
  fuse_mounted "$ROOT" || { echo "$ROOT is not a FUSE mount"; exit 1; }
}

# fuse_mounted DIR: the model is mounted at DIR (in this namespace).
fuse_mounted() {
  awk -v d="$1" '$2 == d && $3 ~ /^fuse/ { found = 1 } END { exit !found }' /proc/self/mounts
}

# sim_do LINE...: runs one simulator command line, prints its output.
sim_do() {
  printf '%s\necho @@sim-done@@\n' "$*" >&"$SIM_IN"
  local line
  while IFS= read -r -t 60 -u "$SIM_OUT" line; do
    [ "$line" = "@@sim-done@@" ] && return 0
    printf '%s\n' "$line"
  done
  echo "vfio-ap-sim did not answer: $*"
  return 1
}

# sim_stop: end of input; the simulator unmounts and exits. Fails the test
# unless it exits 0 within 30 s and the mount is gone.
sim_stop() {
  exec {SIM_IN}>&-
  wait_exit "$SIM_PID" 30 || fail "vfio-ap-sim did not exit 30 s after end of input"
  expect "vfio-ap-sim exit status" 0 "$WAITED_STATUS"
  fuse_mounted "$ROOT" && fail "$ROOT is still mounted"
  SIM_PID=
}

# wait_exit PID SECONDS: waits for a child; WAITED_STATUS gets its status.
wait_exit() {
  local i
  for ((i = 0; i < $2 * 10; ++i)); do
    if ! kill -0 "$1" 2>/dev/null; then
      wait "$1"
      WAITED_STATUS=$?
      return 0
    fi
    sleep 0.1
  done
  WAITED_STATUS=timeout
  return 1
}

# The errno names of the messages bash and coreutils print (glibc's
# strerror), as the simulator names them.
errno_name() {
  case "$1" in
    "Operation not permitted") echo EPERM ;;
    "No such file or directory") echo ENOENT ;;
    "Input/output error") echo EIO ;;
    "No such device or address") echo ENXIO ;;
    "Bad file descriptor") echo EBADF ;;
    "Cannot allocate memory") echo ENOMEM ;;
    "Permission denied") echo EACCES ;;
    "Device or resource busy") echo EBUSY ;;
    "File exists") echo EEXIST ;;
    "No such device") echo ENODEV ;;
    "Not a directory") echo ENOTDIR ;;
    "Is a directory") echo EISDIR ;;
    "Invalid argument") echo EINVAL ;;
    "No space left on device") echo ENOSPC ;;
    "Numerical result out of range") echo ERANGE ;;
    "Address already in use") echo EADDRINUSE ;;
    "Cannot assign requested address") echo EADDRNOTAVAIL ;;
    "Resource deadlock avoided") echo EDEADLK ;;
    "Operation not supported") echo EOPNOTSUPP ;;
    *) echo "E?" ;;
  esac
}

# sysfs_echo LINE: runs the bash line (an echo redirected into the mount);
# on failure prints what the simulator prints for a failed write,
# `error: ENAME: text`, from bash's own message.
sysfs_echo() {
  local err
  if ! err=$( { eval "$1"; } 2>&1 >/dev/null); then
    local text=${err##*: }
    echo "error: $(errno_name "$text"): $text"
  fi
}

# sysfs_cat PATH...: real cat of each path; a failure prints as the
# simulator's cat does.
sysfs_cat() {
  local p err
  for p in "$@"; do
    if ! err=$(cat -- "$p" 2>&1 >&3); then
      local text=${err##*: }
      echo "error: $(errno_name "$text"): $text"
    fi
  done 3>&1
}

finish() {
  if [ "$FAILURES" -ne 0 ]; then
    echo "$FAILURES check(s) failed"
    [ -s "$WORK/sim.err" ] && { echo "--- vfio-ap-sim stderr:"; cat "$WORK/sim.err"; }
    exit 1
  fi
  echo "all checks passed"
  exit 0
}
