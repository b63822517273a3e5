#!/usr/bin/env bash
# Installs every Debian 12 package that ordo's build, tests, benchmarks, examples
# and fuzzers need. Non-interactive and idempotent: when everything is already
# installed it returns at once without touching apt.
set -euo pipefail

packages=(
  build-essential g++ cmake ninja-build pkg-config
  libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev
  liburcu-dev libtsan2
  clang-19 libclang-rt-19-dev
  python3 python3-matplotlib ccache doxygen
  fuse3 libfuse3-dev mdevctl
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
