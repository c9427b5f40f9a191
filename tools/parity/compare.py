#!/usr/bin/env python3
"""compare.py: do two sets of training runs differ? The parity study's table and test.

Each argument is LABEL=FOLDER, a recipe folder of `lightbox sweep` or tools/parity/torch_sweep.py
(FOLDER/seed-S/history.json and FOLDER/seed-S/eval-test/metrics.json), or LABEL=FOLDER1,FOLDER2,...:
one folder per recipe (stratum), every set giving the same number of strata in the same order. Prints, per set, mean +-
sample std and the standard error of best val AUC, test ACC (threshold 0.5) and test AUC, then
for the first set against each other one the difference of the means with an exact two-sided
permutation test (every way of splitting the pooled runs into groups of the two sizes: no
normality assumed; with 5 + 5 runs, 252 splits, so p >= 1/126 when the groups do not overlap) and
Welch's t statistic. With several strata the test is stratified: the difference is the mean over
strata of the per-stratum differences, and runs are permuted within their stratum only (exact
up to 10^6 arrangements, else 20000 random ones, seeded). Runs are independent seeds; the test asks whether the two recipes or engines
land at different means, not whether one run beats another.

    python3 tools/parity/compare.py lightbox=runs/parity/lightbox/matched torch=runs/parity/torch/matched
    python3 tools/parity/compare.py ... --json out.json      # the same numbers, machine-readable

Standard library only.
"""
import argparse
import glob
import itertools
import json
import math
import os
import sys

METRICS = ("val_auc", "test_acc", "test_auc")


def read_set(folder):
    runs = {}
    for d in sorted(glob.glob(os.path.join(folder, "seed-*"))):
        m = os.path.join(d, "eval-test", "metrics.json")
        h = os.path.join(d, "history.json")
        if not (os.path.exists(m) and os.path.exists(h)):
            continue  # unfinished
        with open(m) as f:
            metrics = json.load(f)
        with open(h) as f:
            history = json.load(f)
        at = metrics["at_0.5"]
        runs[int(d.rsplit("-", 1)[1])] = {
            "val_auc": max(e["val_auc"] for e in history if e.get("val_auc") is not None),
            "test_acc": at["metrics"]["accuracy"], "test_auc": at["auc"],
            "seconds": sum(e.get("seconds", 0) for e in history)}
    if not runs:
        sys.exit(f"compare.py: no finished run (seed-*/eval-test/metrics.json) under {folder}")
    return runs


def mean(v):
    return sum(v) / len(v)


def sd(v):
    if len(v) < 2:
        return float("nan")
    m = mean(v)
    return math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1))


def stratified_p(strata_a, strata_b, draws=20000):
    """Permutation test of the mean over strata of mean(a_k) - mean(b_k), runs exchanged within
    each stratum only."""
    def splits(a, b):
        pooled = a + b
        for idx in itertools.combinations(range(len(pooled)), len(a)):
            rest = [pooled[i] for i in range(len(pooled)) if i not in set(idx)]
            yield mean([pooled[i] for i in idx]) - mean(rest)
    observed = abs(mean([mean(a) - mean(b) for a, b in zip(strata_a, strata_b)]))
    per = [list(splits(a, b)) for a, b in zip(strata_a, strata_b)]
    if math.prod(len(d) for d in per) <= 10 ** 6:
        diffs = [mean(list(c)) for c in itertools.product(*per)]
    else:
        import random
        rng = random.Random(0)
        diffs = [mean([rng.choice(d) for d in per]) for _ in range(draws)]
    return sum(abs(d) >= observed - 1e-12 for d in diffs) / len(diffs)


def welch_t(a, b):
    va, vb = sd(a) ** 2 / len(a), sd(b) ** 2 / len(b)
    return (mean(a) - mean(b)) / math.sqrt(va + vb) if va + vb > 0 else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sets", nargs="+", help="LABEL=FOLDER")
    ap.add_argument("--json", help="also write the numbers here")
    a = ap.parse_args()
    sets = []
    for s in a.sets:
        if "=" not in s:
            sys.exit(f"compare.py: '{s}' is not LABEL=FOLDER")
        label, folders = s.split("=", 1)
        sets.append((label, [read_set(f) for f in folders.split(",")]))
    if len({len(strata) for _, strata in sets}) != 1:
        sys.exit("compare.py: every set needs the same number of folders (strata)")
    out = {"sets": [], "tests": []}
    print(f"{'set':<28} {'n':>2}  {'val AUC':>17}  {'test ACC':>17}  {'test AUC':>17}  {'min/run':>7}")
    rows = [(f"{label}[{k}]" if len(strata) > 1 else label, runs)
            for label, strata in sets for k, runs in enumerate(strata)]
    for label, runs in rows:
        row = {"label": label, "seeds": sorted(runs)}
        cells = []
        for k in METRICS:
            v = [runs[s][k] for s in sorted(runs)]
            row[k] = {"values": v, "mean": mean(v), "std": sd(v), "se": sd(v) / math.sqrt(len(v))}
            cells.append(f"{mean(v):.4f} +- {sd(v):.4f}")
        row["minutes_per_run"] = mean([r["seconds"] for r in runs.values()]) / 60
        out["sets"].append(row)
        print(f"{label:<28} {len(runs):>2}  " + "  ".join(f"{c:>17}" for c in cells) +
              f"  {row['minutes_per_run']:>7.1f}")
    base_label, base = sets[0]
    values = lambda strata, k: [[runs[s][k] for s in sorted(runs)] for runs in strata]
    for label, strata in sets[1:]:
        for k in METRICS:
            va, vb = values(base, k), values(strata, k)
            t = {"a": base_label, "b": label, "metric": k,
                 "diff": mean([mean(a) - mean(b) for a, b in zip(va, vb)])}
            if len(va) == 1:
                t.update(permutation_p=stratified_p(va, vb), welch_t=welch_t(va[0], vb[0]),
                         se_b=sd(vb[0]) / math.sqrt(len(vb[0])))
                extra = f"  Welch t = {t['welch_t']:+.2f}  ({abs(t['diff']) / t['se_b']:.1f} SE of {label})"
            else:
                t["permutation_p"] = stratified_p(va, vb)  # one stratum: the plain exact test
                extra = f"  (stratified over {len(va)} recipes)"
            out["tests"].append(t)
            print(f"{base_label} - {label}: {k} {t['diff']:+.4f}  permutation p = {t['permutation_p']:.3f}{extra}")
    if a.json:
        tmp = a.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(out, f, indent=1)
        os.replace(tmp, a.json)


if __name__ == "__main__":
    main()
