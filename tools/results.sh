#!/usr/bin/env bash
# tools/results.sh: the lightbox rows of docs/results.md, as one `lightbox sweep` (tools/cli/sweep.cc):
# each recipe of tools/results.json with seeds 0-4, each run's checkpoint picked by val AUC,
# evaluated on test once; prints mean +- std of val AUC, test ACC and test AUC per recipe and the
# best two recipes' McNemar and DeLong tests, and writes runs/results/sweep.json. Resumable: run
# it again after an interruption.
#   seed:          the seed report's first recipe (SGD lr 0.01, momentum 0.9, batch 128, 5 epochs)
#   lightbox-2025: the reference recipe as issue 20 measured it (one-cycle lr 0.05, wd 5e-4,
#                  20 epochs, whole-pixel shifts +-2 and rotations +-10, black fill)
#   matched:       the same recipe as a PyTorch user writes it (sub-pixel shifts, border fill,
#                  15% warm-up); tools/parity/ trains it in PyTorch too
#   intensity:     the push's first round, chosen on val (tools/search.json): matched plus
#                  scale, gamma, contrast, brightness and noise
#   long-tta:      the push's final recipe, chosen on val: intensity over 40 epochs, validated
#                  and tested on the mean of 9 one-pixel-shifted views (--tta 9)
# The push's search recipes are tools/search.json (lightbox sweep --val-only, docs/05).
# Usage: SEEDS=0-4 THREADS=2 tools/results.sh [extra sweep flags, e.g. --shard 1/2]
set -euo pipefail
cd "$(dirname "$0")/.."
exec build/bin/lightbox sweep tools/results.json --seeds "${SEEDS:-0-4}" --out runs/results \
  --threads "${THREADS:-$(nproc)}" "$@"
