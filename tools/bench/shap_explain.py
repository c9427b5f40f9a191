#!/usr/bin/env python3
"""The shap library's side of tools/bench/explain.sh: times shap's explainers on the same model,
images and background as lightbox, at the seed report's settings, and saves shap's values so the
shell script can check that both sides computed the same thing.

  python3 shap_explain.py --weights W.safetensors --x x.npy --bg bg.npy --out DIR [--threads 2]
                          [--methods gradient,gradient-layer1,deep,partition]

The model is torchvision's ResNet18 layout (tests/fixtures/explain/small_resnet.py at width 64,
same parameter names, so lightbox checkpoints load unchanged). Deep runs on the patched twin
(no in-place ReLU, one ReLU per use, out = out + identity): the unpatched model raises in shap.
Each method runs once on the first image untimed (numba compilation, allocator warm-up), then on
all images timed. Deep is timed as users run it (shap's max_unpool rule) and its values are taken
from a second, untimed run with the rule's overwrite replaced by a sum (make_deep_golden.py's
scatter_add_maxpool), which is what lightbox computes. Prints one JSON line: seconds per image for
each method, and writes DIR/shap_<method>.npy as (N, K, C, H, W) float64, lightbox's layout.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../../tests/fixtures/explain"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--x", required=True)
    ap.add_argument("--bg", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--methods", default="gradient,gradient-layer1,deep,partition")
    ap.add_argument("--nsamples", type=int, default=200)
    ap.add_argument("--max-evals", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=100)
    a = ap.parse_args()
    try:
        import shap
        import torch
    except ImportError as e:
        print(json.dumps({"skipped": f"shap or torch missing ({e}); pip install shap torch"}))
        return
    import warnings
    warnings.filterwarnings("ignore")
    from safetensors_io import read_safetensors
    from small_resnet import SmallResNet18

    torch.set_num_threads(a.threads)
    sd = {k: torch.from_numpy(v) for k, v in read_safetensors(a.weights).items()}
    width = sd["conv1.weight"].shape[0]

    def model(patched):
        m = SmallResNet18(width=width, in_channels=sd["conv1.weight"].shape[1], num_classes=sd["fc.weight"].shape[0],
                          patched=patched)
        m.load_state_dict(sd)
        return m.eval()

    x = torch.from_numpy(np.load(a.x))
    bg = torch.from_numpy(np.load(a.bg))
    n = x.shape[0]
    os.makedirs(a.out, exist_ok=True)
    result = {"torch": torch.__version__, "shap": shap.__version__, "threads": a.threads, "images": n,
              "background": int(bg.shape[0])}

    def save(name, values_last):  # shap: (N, C, H, W, K) -> lightbox (N, K, C, H, W)
        np.save(os.path.join(a.out, f"shap_{name}.npy"), np.moveaxis(np.asarray(values_last, dtype=np.float64), -1, 1))

    def explain(method, xs):
        if method == "gradient":
            return shap.GradientExplainer(model(False), bg).shap_values(xs, nsamples=a.nsamples, rseed=0)
        if method.startswith("gradient-"):
            m = model(False)
            e = shap.GradientExplainer((m, getattr(m, method.split("-")[1])), bg)
            return e.shap_values(xs, nsamples=a.nsamples, rseed=0)
        if method == "deep":
            return shap.DeepExplainer(model(True), bg).shap_values(xs, check_additivity=False)
        if method == "partition":
            m = model(False)

            def f(imgs):  # shap passes (n, H, W, C) numpy
                with torch.no_grad():
                    return m(torch.from_numpy(np.ascontiguousarray(imgs.transpose(0, 3, 1, 2))).float()).numpy()
            h, w = xs.shape[2], xs.shape[3]
            masker = shap.maskers.Image(f"blur({w},{h})", (h, w, xs.shape[1]))
            np.random.seed(0)
            ex = shap.Explainer(f, masker)(xs.numpy().transpose(0, 2, 3, 1), max_evals=a.max_evals,
                                            batch_size=a.batch_size, silent=True)
            return np.asarray(ex.values).transpose(0, 3, 1, 2, 4)  # (N, H, W, C, K) -> (N, C, H, W, K)
        raise SystemExit(f"unknown method {method}")

    for method in a.methods.split(","):
        explain(method, x[:1])  # warm-up, untimed
        t0 = time.perf_counter()
        v = explain(method, x)
        result[method + "_s_per_image"] = (time.perf_counter() - t0) / n
        if method == "deep":
            from make_deep_golden import scatter_add_maxpool
            with scatter_add_maxpool():
                v = explain(method, x)
        save(method, v)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
