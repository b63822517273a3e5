#!/usr/bin/env bash
# The simulator demo: builds vfio-ap-sim in the tsan preset (every lock and
# reference of the model checked by ThreadSanitizer and lockdep while it
# runs) and plays the kernel documentation's vfio-ap walk-through on it,
# printing what the kernel would show. scripts/demo.sh calls this.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset tsan -Wno-dev >/dev/null
cmake --build --preset tsan --target vfio_ap_sim
echo
echo "=== vfio-ap walk-through (vfio_ap/sim/walkthrough.sim, tsan build)"
TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1}" \
  build/tsan/vfio_ap/sim/vfio-ap-sim vfio_ap/sim/walkthrough.sim
