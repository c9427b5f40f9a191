#!/usr/bin/env bash
# tools/demo.sh: install what is missing, build, and run the main job (`lightbox demo`): the seed's
# study (baseline and tuned training, evaluation, comparison, explanations of both models) ending
# with runs/demo/report.html, whose path it prints. A few minutes on a 2-core CPU.
# Usage: tools/demo.sh [extra arguments for lightbox demo, e.g. --epochs 5 --tuned-epochs 10]
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib/common.sh
lb_ensure_packages "${LB_PACKAGES_BUILD[@]}"
LB_BUILD_TARGET=lightbox lb_build  # the CLI only: the test suites are tools/test.sh's to build
exec build/bin/lightbox demo "$@"
