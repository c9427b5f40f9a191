#!/usr/bin/env bash
# tools/results.sh: the numbers in docs/results.md, as one `lightbox sweep` (tools/cli/sweep.cc):
# each recipe of tools/results.json with seeds 0, 1, 2, each run's checkpoint picked by val AUC,
# evaluated on test once; prints mean +- std of val AUC, test ACC and test AUC per recipe and the
# best two recipes' McNemar and DeLong tests, and writes runs/results/sweep.json. Resumable: run
# it again after an interruption.
#   seed:  the seed report's first recipe (SGD lr 0.01, momentum 0.9, batch 128, 5 epochs, random init)
#   tuned: design.md's reference PyTorch recipe (one-cycle lr 0.05, momentum cycled 0.95-0.85,
#          weight decay 5e-4, small shifts and rotations), 10 epochs instead of 20 for CPU time
# Usage: SEEDS=0-4 THREADS=2 tools/results.sh [extra sweep flags, e.g. --shard 1/2]
set -euo pipefail
cd "$(dirname "$0")/.."
exec build/bin/lightbox sweep tools/results.json --seeds "${SEEDS:-0-2}" --out runs/results \
  --threads "${THREADS:-$(nproc)}" "$@"
