#!/usr/bin/env bash
# tools/bench/cpu_train.sh: ResNet18 (1 channel, 2 classes) training and inference throughput,
# lightbox vs PyTorch eager on the CPU, same batch, size, threads and machine, in one run.
# Prints both JSON lines and the ratios lightbox / PyTorch.
# Usage: tools/bench/cpu_train.sh [--threads N] [--batch 128] [--size 28] [--steps 10]
# PYTHON picks the PyTorch to compare with (default Debian's /usr/bin/python3 with python3-torch;
# e.g. PYTHON=venv/bin/python for a PyPI wheel). LB_BUILD names the build folder (default build).
set -euo pipefail
cd "$(dirname "$0")/../.."
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(--threads "$(nproc)")
build=${LB_BUILD:-build}
[ -x "$build/bin/lightbox" ] || { echo "build first: tools/test.sh or cmake --build build (or set LB_BUILD)" >&2; exit 1; }
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u +%F)"
lb=$("$build/bin/lightbox" bench train "${args[@]}")
pt=$("${PYTHON:-/usr/bin/python3}" tools/bench/torch_train.py "${args[@]}")
echo "$lb"
echo "$pt"
/usr/bin/python3 - "$lb" "$pt" <<'PY'
import json, sys
lb, pt = json.loads(sys.argv[1]), json.loads(sys.argv[2])
if "skipped" in pt:
    print("pytorch skipped:", pt["skipped"]); sys.exit(0)
for k in ("train_img_per_s", "infer_img_per_s"):
    print(f"{k}: lightbox {lb[k]:.1f}, pytorch {pt[k]:.1f}, ratio {lb[k] / pt[k]:.2f}x")
PY
