#!/usr/bin/env bash
# The whole test suite: installs what is missing, then configures, builds and
# runs every test in each preset (default: release debug tsan asan clang, then
# the fuzzers' bounded runs; after release, the `docs` stage builds the API
# reference when doxygen is installed). Prints the time each stage took and a
# closing "N passed, N failed" line. Exits non-zero when anything fails.
#
#   scripts/test.sh                 # everything, as CI runs it
#   scripts/test.sh tsan asan       # only these presets
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh || { echo "setup failed"; exit 1; }

presets=("$@")
if [ "${#presets[@]}" -eq 0 ]; then
  presets=(release debug tsan asan clang)
  [ -f scripts/fuzz.sh ] && presets+=(fuzz)
fi
jobs=$(nproc)

total_passed=0
total_failed=0
failed_stages=()
stage_times=()

# count_results LOG: adds ctest's "N tests failed out of M" to the totals.
count_results() {
  local line failed total
  line=$(grep -E 'tests? passed, [0-9]+ tests? failed out of [0-9]+' "$1" | tail -n 1)
  if [ -n "$line" ]; then
    failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    total=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
    total_passed=$((total_passed + total - failed))
    total_failed=$((total_failed + failed))
  fi
}

run_stage() {  # run_stage NAME COMMAND...
  local name=$1; shift
  local start=$SECONDS
  echo "=== ${name}: $*"
  if "$@"; then
    stage_times+=("${name}: $((SECONDS - start))s ok")
  else
    stage_times+=("${name}: $((SECONDS - start))s FAILED")
    failed_stages+=("$name")
    return 1
  fi
}

for preset in "${presets[@]}"; do
  if [ "$preset" = fuzz ]; then
    run_stage "fuzz" bash scripts/fuzz.sh || total_failed=$((total_failed + 1))
    continue
  fi
  log="build/${preset}-ctest.log"
  mkdir -p build
  run_stage "${preset} configure" cmake --preset "$preset" -Wno-dev >/dev/null || { total_failed=$((total_failed + 1)); continue; }
  run_stage "${preset} build" cmake --build --preset "$preset" -j "$jobs" || { total_failed=$((total_failed + 1)); continue; }
  run_stage "${preset} test" bash -c "ctest --preset '$preset' -j '$jobs' 2>&1 | tee '$log'; exit \${PIPESTATUS[0]}"
  count_results "$log"
  # The API reference: Doxygen with warnings as errors, so an undocumented
  # public member fails this stage.
  if [ "$preset" = release ]; then
    if command -v doxygen >/dev/null; then
      run_stage "docs" cmake --build --preset release --target docs || total_failed=$((total_failed + 1))
    else
      echo "=== docs: skipped (doxygen is not installed)"
    fi
  fi
done

echo
echo "=== stage times"
printf '  %s\n' "${stage_times[@]}"
if [ "${#failed_stages[@]}" -gt 0 ]; then
  echo "failed stages: ${failed_stages[*]}"
fi
echo "${total_passed} passed, ${total_failed} failed"
[ "${#failed_stages[@]}" -eq 0 ] && [ "$total_failed" -eq 0 ]
