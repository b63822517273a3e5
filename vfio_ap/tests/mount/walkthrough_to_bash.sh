#!/usr/bin/env bash
# walkthrough_to_bash.sh SCRIPT.sim — prints SCRIPT as a bash script that
# drives a mounted model: sysfs lines become real bash (echo with its
# redirection, cat, cd) on the paths below $ROOT instead of /sys, each
# failure printed as the simulator prints it (lib.sh sysfs_echo/sysfs_cat);
# the host-side commands (qci, kvm, vfio, pqap, zapq-fault, check) go to the
# simulator's standard input (lib.sh sim_do). Variables, quoting and
# comments are the same in both languages for what the walk-through uses.
set -eu
while IFS= read -r line || [ -n "$line" ]; do
  line=${line//\/sys\//\$ROOT\/}
  [[ "$line" == */sys ]] && line="${line%/sys}\$ROOT"
  trimmed=${line#"${line%%[![:space:]]*}"}
  case "$trimmed" in
    '' | '#'*) printf '%s\n' "$line" ;;
    echo*'>'*) printf 'sysfs_echo %q\n' "$trimmed" ;;
    echo* | cd\ * | cd) printf '%s\n' "$trimmed" ;;
    cat\ *) printf 'sysfs_cat %s\n' "${trimmed#cat }" ;;
    qci* | kvm\ * | vfio\ * | pqap\ * | zapq-fault\ * | check) printf 'sim_do %s\n' "$trimmed" ;;
    [A-Za-z_]*=*) printf '%s\n' "$trimmed" ;;
    *) echo "walkthrough_to_bash: cannot translate: $line" >&2; exit 1 ;;
  esac
done <"$1"
