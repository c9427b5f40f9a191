#!/usr/bin/env bash
# tools/bench/gpu_train.sh: ResNet18 (1 channel, 2 classes) training throughput on one CUDA card,
# lightbox (custom kernels with and without CUDA Graph replay, cuDNN backend; fp32 and TF32) against PyTorch eager
# (fp32 and TF32) on the same card in the same run, at 28x28 batch 128 and 224x224 batch 256.
# Prints every JSON line, then a table of img/s and the ratio to PyTorch eager in the same math.
# Usage: tools/bench/gpu_train.sh [BUILD_DIR]   (PYTHON picks the PyTorch, default python3;
# SIZES="28" or "224" runs one size)
set -uo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
lb=$build/bin/lightbox
[ -x "$lb" ] || { echo "build first: cmake --build $build" >&2; exit 1; }
py=${PYTHON:-python3}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | sed 's/^/card: /'
echo "date: $(date -u +%F)"
out=$(mktemp)
run() {  # label, then the command; one JSON line (or an error line) per configuration
  local label=$1; shift
  local line
  if line=$(timeout 300 "$@" 2>/tmp/gpu_train_err | tail -1) && [ -n "$line" ]; then
    echo "$label $line" | tee -a "$out"
  else
    echo "$label FAILED: $(tail -2 /tmp/gpu_train_err | tr '\n' ' ')" | tee -a "$out"
  fi
}
for cfg in "28 128 5 50" "224 256 2 10"; do
  set -- $cfg
  [[ " ${SIZES:-28 224} " == *" $1 "* ]] || continue
  size=$1 batch=$2 warm=$3 steps=$4
  common=(--size "$size" --batch "$batch" --warmup "$warm" --steps "$steps")
  run "pytorch_fp32_$size" "$py" tools/bench/torch_train.py --device cuda "${common[@]}"
  run "pytorch_tf32_$size" "$py" tools/bench/torch_train.py --device cuda --tf32 "${common[@]}"
  for backend in custom cudnn; do
    run "lightbox_${backend}_fp32_$size" "$lb" bench train --device cuda --backend $backend "${common[@]}"
    run "lightbox_${backend}_tf32_$size" "$lb" bench train --device cuda --backend $backend --tf32 "${common[@]}"
    [ $backend = cudnn ] && continue  # graphs capture our own kernels only (bench train --graph)
    run "lightbox_${backend}_graph_fp32_$size" "$lb" bench train --device cuda --backend $backend --graph "${common[@]}"
    run "lightbox_${backend}_graph_tf32_$size" "$lb" bench train --device cuda --backend $backend --graph --tf32 "${common[@]}"
    # bf16 GEMM operands, fp32 everything else (kernels/shapes.h): no PyTorch twin (autocast also
    # stores activations in bf16), so it is read against PyTorch fp32 like every other row.
    run "lightbox_${backend}_bf16_$size" "$lb" bench train --device cuda --backend $backend --bf16 "${common[@]}"
    run "lightbox_${backend}_graph_bf16_$size" "$lb" bench train --device cuda --backend $backend --graph --bf16 "${common[@]}"
  done
done
python3 - "$out" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    label, _, rest = line.strip().partition(" ")
    try:
        rows[label] = json.loads(rest)
    except ValueError:
        rows[label] = None
print(f"\n{'configuration':34s} {'train img/s':>12s} {'infer img/s':>12s} {'train vs torch':>15s}")
for label, r in rows.items():
    if r is None:
        print(f"{label:34s} {'failed':>12s}")
        continue
    size = label.rsplit("_", 1)[1]
    math = "tf32" if "tf32" in label else "fp32"
    base = rows.get(f"pytorch_{math}_{size}")
    ratio = f"{r['train_img_per_s'] / base['train_img_per_s']:.2f}x" if base else "-"
    print(f"{label:34s} {r['train_img_per_s']:12.0f} {r['infer_img_per_s']:12.0f} {ratio:>15s}")
PY
rm -f "$out"
