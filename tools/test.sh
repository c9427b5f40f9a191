#!/usr/bin/env bash
# tools/test.sh: install what is missing, build, and run every test (ctest).
# GPU tests (label `gpu`) report themselves skipped on a machine without a CUDA device.
# Then the robustness stages (docs/reliability.md): the CPU suite again in build-asan (clang,
# ASan + UBSan + leak checks; a report fails the test), and a short run of every fuzzer
# (tools/fuzz.sh, at most 10 s or 20000 inputs each, seeded so that CI is reproducible). LB_QUICK=1 skips those two.
# The Python package (python/) is built in the same build/ and its pytest suite runs as the ctest
# test Python.pytest (label python), in the venv build/pyvenv; LB_PYTHON=0 leaves it out.
# Usage: tools/test.sh [extra ctest args, e.g. -L gpu or -R Conv2d]
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib/common.sh
lb_ensure_packages "${LB_PACKAGES_BUILD[@]}" "${LB_PACKAGES_TEST[@]}"
py_args=(-DLB_PYTHON=OFF)
if [ "${LB_PYTHON:-1}" != 0 ]; then
  lb_python_venv build/pyvenv
  py_args=(-DLB_PYTHON=ON -DPython_EXECUTABLE="$PWD/build/pyvenv/bin/python")
fi
lb_build "${py_args[@]}"
(cd build && ctest --output-on-failure -j"$(nproc)" "$@")
[ "${LB_QUICK:-0}" = 1 ] && exit 0

echo "lightbox: the CPU suite under ASan + UBSan (build-asan)"
lb_build_asan
(cd build-asan && ctest --output-on-failure -j"$(nproc)" -L cpu "$@")
echo "lightbox: fuzz smoke run (seed 1, at most 20000 inputs or 10 s per target)"
LB_FUZZ_SEED=1 tools/fuzz.sh 10
