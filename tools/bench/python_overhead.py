#!/usr/bin/env python3
"""python_overhead.py: what a call from Python costs over the same call made in C++.

For a forward (model(x)) and an explain call (lightbox.explain), times many calls from Python and
the same call repeated inside C++ (lightbox._core._bench_forward / _bench_explain: the function the
binding calls, in a C++ loop, no Python in between), interleaved round by round in one process
with the same threads, and reports the median per-call difference. Shapes are the seed's: ResNet18
at 28x28, one image and a batch of 64. Target (issue 18): overhead <= 1 ms per call.

    PYTHONPATH=build/python build/pyvenv/bin/python tools/bench/python_overhead.py [--rounds 7] [--json out.json]
"""
import argparse
import json
import platform
import statistics
import subprocess
import time

import numpy as np

import lightbox
from lightbox import _core


def per_call_python(fn, reps):
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        return platform.processor()


def measure(name, py_fn, cpp_fn, reps, rounds):
    py_fn(), cpp_fn(1)  # warm-up: caches, packed weights, thread pool
    py, cpp = [], []
    for _ in range(rounds):
        py.append(per_call_python(py_fn, reps))
        cpp.append(cpp_fn(reps))
    diff = [p - c for p, c in zip(py, cpp)]
    r = {"case": name, "python_ms": 1e3 * statistics.median(py), "cpp_ms": 1e3 * statistics.median(cpp),
         "overhead_ms": 1e3 * statistics.median(diff), "ratio": statistics.median(p / c for p, c in zip(py, cpp))}
    print(f"{name:34s} python {r['python_ms']:9.3f} ms   C++ {r['cpp_ms']:9.3f} ms   "
          f"overhead {r['overhead_ms']:+7.3f} ms   ratio {r['ratio']:.3f}")
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--json")
    a = ap.parse_args()
    model = lightbox.resnet18(seed=0)
    rng = np.random.default_rng(0)
    results = []
    # A width-8 ResNet18 on one image: the compute is small, so the difference is the call's own cost.
    small = lightbox.resnet18(width=8, seed=0)
    x1 = rng.standard_normal((1, 1, 28, 28)).astype(np.float32)
    results.append(measure("forward N=1, width 8", lambda: small(x1), lambda r: _core._bench_forward(small, x1, r),
                           1000, a.rounds))
    results.append(measure("explain ig N=1, width 8, steps=2", lambda: lightbox.explain(small, x1, "ig", steps=2),
                           lambda r: _core._bench_explain(small, x1, "ig", None, {"steps": 2}, r), 200, a.rounds))
    for n, reps in ((1, 200), (64, 10)):
        x = rng.standard_normal((n, 1, 28, 28)).astype(np.float32)
        results.append(measure(f"forward N={n}", lambda: model(x), lambda r: _core._bench_forward(model, x, r), reps,
                               a.rounds))
    x = rng.standard_normal((1, 1, 28, 28)).astype(np.float32)
    bg = rng.standard_normal((10, 1, 28, 28)).astype(np.float32)
    results.append(measure("explain deep N=1, 10 background",
                           lambda: lightbox.explain(model, x, "deep", background=bg),
                           lambda r: _core._bench_explain(model, x, "deep", bg, {}, r), 10, a.rounds))
    results.append(measure("explain ig N=1, steps=8", lambda: lightbox.explain(model, x, "ig", steps=8),
                           lambda r: _core._bench_explain(model, x, "ig", None, {"steps": 8}, r), 10, a.rounds))
    meta = {"cpu": cpu_model(), "python": platform.python_version(), "rounds": a.rounds}
    print(json.dumps(meta))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
