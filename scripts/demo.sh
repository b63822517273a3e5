#!/usr/bin/env bash
# The demo: builds the release preset, runs every example, then prints the
# benchmark ratio tables (ours / anchor, measured in the same run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset release -Wno-dev >/dev/null
cmake --build --preset release -j "$(nproc)"

echo
echo "=== examples"
for exe in build/release/examples/*; do
  [ -x "$exe" ] && [ -f "$exe" ] || continue
  echo "--- $(basename "$exe")"
  "$exe"
done

if [ -f scripts/sim_demo.sh ]; then
  bash scripts/sim_demo.sh
fi

echo
echo "=== benchmarks (release preset; ratio = ours / anchor, same run)"
for bench in build/release/bench/*_bench build/release/vfio_ap/bench/*_bench; do
  [ -x "$bench" ] || continue
  python3 scripts/bench_ratios.py "$bench"
done
