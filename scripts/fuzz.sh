#!/usr/bin/env bash
# Builds the libFuzzer targets (clang-19, -fsanitize=fuzzer,address,undefined)
# and runs each for a bounded time (FUZZ_SECONDS, default 60) on a seed corpus
# made from the simulator script tests and the checked-in seeds
# (tests/fuzz/seeds/NAME, vfio_ap/fuzz/seeds/NAME), with the flags of its
# NAME.options file if it has one, and prints each target's
# executions, rate and peak RSS. Fails on any crash, leak or sanitizer
# report; the input that caused it is left in build/fuzz/artifacts/: fix the
# bug and add the input to the target's regressions/ directory, which the
# asan preset replays (CTest label fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}

cmake --preset fuzz -Wno-dev >/dev/null
cmake --build --preset fuzz -j "$(nproc)"

corpus_root=build/fuzz/corpus
artifacts=build/fuzz/artifacts
mkdir -p "$artifacts"
status=0
for fuzzer in build/fuzz/tests/fuzz/*_fuzz build/fuzz/vfio_ap/fuzz/*_fuzz; do
  [ -x "$fuzzer" ] || continue
  name=$(basename "$fuzzer")
  corpus="$corpus_root/$name"
  mkdir -p "$corpus"
  # Seeds: the script tests (whole scripts for the script fuzzer; the sysfs
  # fuzzer reads the first byte as the attribute selector, so any bytes do).
  for seed in vfio_ap/tests/scripts/*.sim vfio_ap/sim/*.sim tests/fuzz/seeds/"$name"/* vfio_ap/fuzz/seeds/"$name"/*; do
    [ -f "$seed" ] && cp -f "$seed" "$corpus/" 2>/dev/null || true
  done
  # The target's own flags: NAME.options beside its source, one libFuzzer
  # flag a line, '#' comments (vfio_ap/fuzz/script_fuzz.options: -max_len and
  # why it loses no model state).
  flags=()
  for options in tests/fuzz/"$name".options vfio_ap/fuzz/"$name".options; do
    [ -f "$options" ] || continue
    while read -r flag; do
      case $flag in '' | '#'*) continue ;; esac
      flags+=("$flag")
    done < "$options"
  done
  echo "--- $name: ${seconds}s ${flags[*]}"
  if ! "$fuzzer" "${flags[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
        -print_final_stats=1 -artifact_prefix="$artifacts/${name}-" "$corpus" \
        > "build/fuzz/${name}.log" 2>&1; then
    echo "FAILED: $name (see build/fuzz/${name}.log)"
    tail -n 60 "build/fuzz/${name}.log"
    status=1
  fi
  # libFuzzer's final stats (-print_final_stats=1): executions, rate, memory.
  stat() { awk -v key="stat::$1:" '$1 == key { print $2 }' "build/fuzz/${name}.log" | tail -n 1; }
  printf '%s: %s executions in %ss, %s exec/s, peak RSS %s MB\n' "$name" \
    "$(stat number_of_executed_units)" "$seconds" "$(stat average_exec_per_sec)" "$(stat peak_rss_mb)"
done
exit $status
