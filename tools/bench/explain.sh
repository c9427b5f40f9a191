#!/usr/bin/env bash
# tools/bench/explain.sh: seconds per image of each lightbox explainer against the shap library,
# same model, images, background, threads and machine, in one run, at the seed report's settings:
#   gradient   nsamples 200, 100 background images (input, and layer1)
#   deep       100 background images
#   partition  blur(28,28), max_evals 300, batch 100
# and how close the values are (shap's Deep runs on the patched twin with its max-pool overwrite,
# so Deep differs where stem pooling windows overlap; Gradient's samples come from different RNGs).
#
# Usage: tools/bench/explain.sh [WEIGHTS.safetensors] [--threads N] [--images N]
# Without weights, a model is trained for one epoch first (about 30 s). PYTHON picks the Python
# with shap, torch and opencv-python-headless (shap's image masker imports cv2; e.g.
# PYTHON=venv/bin/python); without them only lightbox's side runs.
# LB_BUILD names the build folder (default build). Threads wait passively (OMP_WAIT_POLICY).
set -euo pipefail
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
cd "$(dirname "$0")/../.."
weights=""; threads=$(nproc); images=4
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --images) images=$2; shift 2 ;;
    *) weights=$1; shift ;;
  esac
done
build=${LB_BUILD:-build}
[ -x "$build/bin/lightbox" ] || { echo "build first: tools/test.sh or cmake --build build (or set LB_BUILD)" >&2; exit 1; }
py=${PYTHON:-python3}
work=$(mktemp -d /tmp/lb-explain-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
lb=$build/bin/lightbox
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $threads threads; $(date -u +%F)"
if [ -z "$weights" ]; then
  $lb train --data data/pneumoniamnist.npz --epochs 1 --out "$work/run" --quiet --threads "$threads" >/dev/null
  weights="$work/run/checkpoints/best.safetensors"
fi
# the same images for both sides: the first test images and a seeded background of 100
"$py" - "$work" "$images" <<'PY'
import sys, numpy as np
out, n = sys.argv[1], int(sys.argv[2])
d = np.load("data/pneumoniamnist.npz")
ms = lambda u: ((u.astype(np.float32) / 255.0 - 0.5) / 0.5)[:, None]
np.save(f"{out}/x.npy", np.ascontiguousarray(ms(d["test_images"][:n])))
rng = np.random.RandomState(0)
np.save(f"{out}/bg.npy", np.ascontiguousarray(ms(d["train_images"][rng.choice(len(d["train_images"]), 100, replace=False)])))
PY
run() {  # name, explain args...
  local name=$1; shift
  $lb explain --weights "$weights" --input "$work/x.npy" --background "$work/bg.npy" --quiet --threads "$threads" \
      --out "$work/lb_$name" "$@" >/dev/null
}
run gradient --method gradient --nsamples 200
run gradient-layer1 --method gradient --layer layer1 --nsamples 200
run deep --method deep
run partition --method partition --masker blur:28 --max-evals 300 --batch-size 100
shap_json=$("$py" tools/bench/shap_explain.py --weights "$weights" --x "$work/x.npy" --bg "$work/bg.npy" \
            --out "$work" --threads "$threads" 2>/dev/null || echo '{"skipped": "shap_explain.py failed"}')
"$py" - "$work" "$shap_json" <<'PY'
import json, sys, numpy as np
work, shap = sys.argv[1], json.loads(sys.argv[2])
print(f"shap: {shap.get('shap', '-')}, torch {shap.get('torch', '-')}")
print(f"{'method':18} {'lightbox s/img':>14} {'shap s/img':>11} {'speedup':>8}  agreement")
for m in ["gradient", "gradient-layer1", "deep", "partition"]:
    meta = json.load(open(f"{work}/lb_{m}/meta.json"))
    lb_s = meta["explain_seconds"] / len(meta["samples"])
    line = f"{m:18} {lb_s:14.3f}"
    if f"{m}_s_per_image" in shap:
        sh_s = shap[f"{m}_s_per_image"]
        a = np.load(f"{work}/lb_{m}/values.npy").ravel()
        b = np.load(f"{work}/shap_{m}.npy").ravel()
        scale = np.abs(b).max()
        agree = f"max|diff|/max|shap| {np.abs(a - b).max() / scale:.2e}, corr {np.corrcoef(a, b)[0, 1]:.4f}"
        line += f" {sh_s:11.3f} {sh_s / lb_s:7.1f}x  {agree}"
    else:
        line += f" {'-':>11} {'-':>8}  ({shap.get('skipped', 'not run')})"
    print(line)
PY
