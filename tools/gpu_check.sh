#!/usr/bin/env bash
# tools/gpu_check.sh: everything in lightbox that needs a GPU, in one command, on a machine with a
# CUDA card and a CUDA build (cmake -S . -B build && cmake --build build -j):
#   A. correctness, at once: the gpu test suite (lb_gpu_tests, ctest label gpu), and the same suite's
#      small cases under compute-sanitizer memcheck and racecheck
#   B. timings, one at a time: `lightbox bench kernels` at 28x28 and 224x224, training throughput
#      against PyTorch eager (tools/bench/gpu_train.sh), and a short real training run on the GPU
# Usage: tools/gpu_check.sh [BUILD_DIR] [OUT_DIR]. Logs and JSON land in OUT_DIR; a summary is
# printed last. Each stage has a time limit so one hang cannot eat the whole run. STAGES picks
# stages (default all): tests lab28 train lab224 cli. SIZES picks gpu_train.sh sizes (28 224).
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
out=${2:-gpu-check}
mkdir -p "$out"
bin=$build/bin
summary=()
finish() {  # name rc seconds
  summary+=("$(printf '%-18s rc=%-4s %5ss' "$1" "$2" "$3")")
}
stage() {  # name limit command...: runs in the foreground, log in $out/name.log
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  finish "$name" "$rc" $((SECONDS - t0))
  echo "== $name: rc=$rc, $((SECONDS - t0)) s"
  grep -E "FAILED|Failure|error|ERROR|Error|passed|skipped|SUMMARY|rel err|==========" "$out/$name.log" | grep -v "^\[       OK" | tail -n 25
}

echo "card: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null)"
# Small cases only under the sanitizers (they slow kernels 10-100x): odd sizes, every op, the allocator.
small='Backends/CudaOps.Conv2dOdd*:Backends/CudaOps.BatchNorm*:Backends/CudaOps.Pooling*:Backends/CudaOps.Linear*:Backends/CudaOps.Elementwise*:Cuda.*:KernelLab*:*GraphStep*:*ConvV2.OddShapes*:CudaDeepRules.*:CudaBf16.*:CudaElementwise.*-Cuda.OutOfMemory*'
# racecheck: the kernels that share memory between threads (v2's cp.async pipeline among them).
race='Backends/CudaOps.Conv2dOdd*:Backends/CudaOps.BatchNorm*:Backends/CudaOps.Linear*:*ConvV2.OddShapes*'

stages=" ${STAGES:-tests lab28 train lab224 cli} "
want() { [[ $stages == *" $1 "* ]]; }

# ---- A. correctness, three processes at once --------------------------------------------------
if want tests; then
t0=$SECONDS
timeout 300 "$bin/lb_gpu_tests" --gtest_brief=1 >"$out/gpu_tests.log" 2>&1 &
p1=$!
timeout 300 compute-sanitizer --tool memcheck --error-exitcode 9 "$bin/lb_gpu_tests" --gtest_brief=1 \
  --gtest_filter="$small" >"$out/memcheck.log" 2>&1 &
p2=$!
timeout 300 compute-sanitizer --tool racecheck --error-exitcode 9 "$bin/lb_gpu_tests" --gtest_brief=1 \
  --gtest_filter="$race" >"$out/racecheck.log" 2>&1 &
p3=$!
for p in "$p1:gpu_tests" "$p2:memcheck" "$p3:racecheck"; do
  wait "${p%%:*}"
  rc=$?
  finish "${p##*:}" "$rc" $((SECONDS - t0))
  echo "== ${p##*:}: rc=$rc"
  grep -E "FAILED|Failure|rel|ERROR SUMMARY|RACECHECK SUMMARY|error|tests ran|PASSED|SKIPPED" "$out/${p##*:}.log" | tail -n 30
done
# The engine suite's CUDA error-message cases (label cpu, skipped without a device).
stage engine_cuda 60 "$bin/lb_engine_tests" --gtest_brief=1 --gtest_filter='*Errors.Mixed*:*Errors.Cuda*'
fi

# ---- B. timings, one at a time ----------------------------------------------------------------------
if want lab28; then
  stage bench_kernels_28 180 "$bin/lightbox" bench kernels --shapes 28 --out "$out/lab28.json"
fi
if want train; then
  stage gpu_train 200 tools/bench/gpu_train.sh "$build"
  tail -n 24 "$out/gpu_train.log"
fi
if want cli; then
  stage train_cli 150 "$bin/lightbox" train --device cuda --epochs 3 --out /tmp/lb-gpu-check-run --quiet
  tail -n 5 "$out/train_cli.log"
  # The same run with the step replayed from a CUDA Graph: its val AUC should match the eager one's.
  stage train_cli_graph 150 "$bin/lightbox" train --device cuda --graph --epochs 3 --out /tmp/lb-gpu-check-graph --quiet
  tail -n 5 "$out/train_cli_graph.log"
fi

if want lab224; then
  stage bench_kernels_224 300 "$bin/lightbox" bench kernels --shapes 224 --no-cpu-time --reps 10 --out "$out/lab224.json"
fi
echo
echo "summary:"
printf '  %s\n' "${summary[@]}"
