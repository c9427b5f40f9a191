#!/usr/bin/env bash
# tools/results.sh: the numbers in docs/results.md. Trains each recipe with seeds 0, 1, 2, picks
# each run's checkpoint by val AUC (the trainer keeps best.safetensors), evaluates it on test, and
# prints mean and std of test ACC and AUC per recipe.
# Usage: tools/results.sh [recipe ...]   (recipes: seed, tuned (the reference recipe); default both)
#        SEEDS="0 1 2" THREADS=2 tools/results.sh seed
set -euo pipefail
cd "$(dirname "$0")/.."
LB=build/bin/lightbox
SEEDS=${SEEDS:-"0 1 2"}
THREADS=${THREADS:-$(nproc)}
recipes=("$@")
[ ${#recipes[@]} -eq 0 ] && recipes=(seed tuned)

flags_for() {
  case "$1" in
    # The seed report's first recipe: SGD lr 0.01, momentum 0.9, batch 128, 5 epochs, random init.
    seed) echo "--epochs 5 --batch-size 128 --lr 0.01 --momentum 0.9" ;;
    # design.md's reference PyTorch recipe (one-cycle lr 0.05, momentum cycled 0.95-0.85, weight
    # decay 5e-4, small shifts and rotations), 10 epochs instead of 20 for CPU time; model by val AUC.
    tuned) echo "--epochs 10 --batch-size 128 --lr 0.05 --momentum 0.9 --weight-decay 5e-4 --schedule onecycle --augment light" ;;
    *) echo "unknown recipe $1 (seed, tuned)" >&2; exit 1 ;;
  esac
}

for r in "${recipes[@]}"; do
  for s in $SEEDS; do
    out=runs/results/$r-s$s
    if [ ! -f "$out/eval-test/metrics.json" ]; then
      # shellcheck disable=SC2046
      $LB train $(flags_for "$r") --seed "$s" --out "$out" --threads "$THREADS" --quiet
      $LB eval --run "$out" --split test --bootstrap 0 --threads "$THREADS" --quiet > "$out/eval-test.txt"
    fi
  done
done

/usr/bin/python3 - "${recipes[@]}" <<'PY'
import json, statistics, sys, glob
for r in sys.argv[1:]:
    acc, auc = [], []
    for f in sorted(glob.glob(f"runs/results/{r}-s*/eval-test/metrics.json")):
        m = json.load(open(f))["at_0.5"]
        acc.append(m["metrics"]["accuracy"]); auc.append(m["auc"])
    if acc:
        sd = lambda v: statistics.stdev(v) if len(v) > 1 else 0.0
        print(f"{r}: n={len(acc)} test ACC {statistics.mean(acc):.4f} ± {sd(acc):.4f}  "
              f"AUC {statistics.mean(auc):.4f} ± {sd(auc):.4f}  (per seed ACC {[round(a, 4) for a in acc]}, AUC {[round(a, 4) for a in auc]})")
PY
