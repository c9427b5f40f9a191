#!/usr/bin/env bash
# tools/fuzz.sh: run each libFuzzer target (tests/fuzz) for a given time, two at a time.
# Usage: tools/fuzz.sh [seconds per target, default 60] [target ...]
#   targets: npy npz safetensors png run_config (default: all)
# LB_FUZZ_SEED=S makes a run reproducible: libFuzzer's seed S and at most LB_FUZZ_RUNS inputs
# (default 20000) per target, so a machine that passes has tried exactly the inputs another tries
# (or a prefix of them, when the time runs out first). tools/test.sh uses it: CI must not fail on
# the luck of the draw; open-ended hunting is `tools/fuzz.sh 600` without it.
# Builds build-asan first (clang, ASan + UBSan, -DLB_FUZZ=ON; tools/lib/common.sh). Each target
# starts from its kept inputs in tests/fuzz/corpus/<target>/ and writes what it learns to
# build-asan/fuzz/corpus/<target>/. A crash, sanitizer report, allocation over 512 MB, leak or
# input slower than 10 s is saved as build-asan/fuzz/crashes/<target>/crash-<sha1> (or leak-,
# oom-, timeout-) and the script fails; fix the parser, then keep the input as
# tests/fuzz/corpus/<target>/crash-<target>-<what> so lb_fuzz_replay checks it in every build.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib/common.sh
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(npy npz safetensors png run_config)
[ "${LB_FUZZ_NO_BUILD:-0}" = 1 ] || lb_build_asan >/dev/null

run_one() {
  local t=$1 work=build-asan/fuzz
  mkdir -p "$work/corpus/$t" "$work/crashes/$t"
  local extra=()
  [ -n "${LB_FUZZ_SEED:-}" ] && extra=(-seed="$LB_FUZZ_SEED" -runs="${LB_FUZZ_RUNS:-20000}")
  # Leaks count as crashes; the OpenMP runtime's thread pool is not a leak of ours.
  if ASAN_OPTIONS=detect_leaks=1 OMP_WAIT_POLICY=passive build-asan/bin/lb_fuzz_"$t" \
      "$work/corpus/$t" "tests/fuzz/corpus/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
      -malloc_limit_mb=512 -print_final_stats=1 -artifact_prefix="$work/crashes/$t/" "${extra[@]}" >"$work/$t.log" 2>&1; then
    echo "fuzz $t: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t.log" | grep -o '[0-9]*$') inputs (at most ${secs} s), no crash"
  else
    echo "fuzz $t: FAILED; the input is in $work/crashes/$t/, the report in $work/$t.log:" >&2
    grep -m1 -E 'ERROR|SUMMARY|deadly|uncaught' "$work/$t.log" >&2 || tail -5 "$work/$t.log" >&2
    return 1
  fi
}

# Two at a time: the CI machine has two cores.
status=0
pids=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$(nproc)" ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
