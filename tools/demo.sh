#!/usr/bin/env bash
# tools/demo.sh: install what is missing, build, and run the main job (`lightbox demo`).
# Usage: tools/demo.sh [extra arguments for lightbox demo]
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib/common.sh
lb_ensure_packages "${LB_PACKAGES_BUILD[@]}"
lb_build
exec build/bin/lightbox demo "$@"
