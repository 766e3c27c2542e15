#!/usr/bin/env bash
# The main job, end to end, on built-in defaults: install the Debian
# packages ukikit needs (scripts/setup.sh), build the tools in Release
# (build/release), then run scripts/demo.sh with them.
# Run as root on Debian 12, from the top of a clone: ./scripts/quickstart.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=$(nproc 2>/dev/null || echo 2)

echo "==> quickstart: setup (Debian packages)"
sh scripts/setup.sh

echo "==> quickstart: build the tools (Release, build/release)"
# The same configuration as scripts/test.sh's benchmark phase, less the
# benchmarks, so the two share build/release without rebuilding the tools.
cmake -S . -B build/release -G Ninja \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=g++ \
  -DUKIKIT_BUILD_TOOLS=ON -DUKIKIT_BUILD_TESTS=OFF -DUKIKIT_BUILD_FUZZERS=OFF \
  -DUKIKIT_BUILD_BENCHMARKS=OFF
cmake --build build/release -j "$jobs"

echo "==> quickstart: demo"
exec "$root/scripts/demo.sh"
