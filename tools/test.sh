#!/usr/bin/env bash
# tools/test.sh: install what is missing, build, and run every test (ctest).
# GPU tests (label `gpu`) report themselves skipped on a machine without a CUDA device.
# Usage: tools/test.sh [extra ctest args, e.g. -L gpu or -R Conv2d]
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib/common.sh
lb_ensure_packages "${LB_PACKAGES_BUILD[@]}"
lb_build
cd build
ctest --output-on-failure -j"$(nproc)" "$@"
