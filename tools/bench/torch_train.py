#!/usr/bin/env python3
"""The same benchmark as `lightbox bench train`, in PyTorch eager on the CPU or a CUDA device.

ResNet18 from torchvision with conv1 = Conv2d(1, 64, 7, 2, 3) and fc = Linear(512, 2) (the seed
report's model), random inputs of a fixed batch and size, SGD momentum 0.9. Times full training
steps and inference forwards after warm-up; prints one JSON line like lightbox's.

Run with Debian's PyTorch: /usr/bin/python3 tools/bench/torch_train.py --threads 2
On a GPU: python3 tools/bench/torch_train.py --device cuda [--tf32] (tools/bench/gpu_train.sh).
PyTorch lets cuDNN convolutions use TF32 by default; here fp32 means fp32 (allow_tf32 off) unless
--tf32 is given, so both engines do the same arithmetic.
"""
import argparse
import json
import sys
import time

try:
    import torch
    import torchvision
except ImportError:
    print(json.dumps({"engine": "pytorch", "skipped": "torch/torchvision not installed "
                      "(apt-get install python3-torch python3-torchvision)"}))
    sys.exit(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tf32", action="store_true")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    torch.backends.cudnn.allow_tf32 = a.tf32
    torch.backends.cuda.matmul.allow_tf32 = a.tf32

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=2)
    model.conv1 = torch.nn.Conv2d(1, 64, 7, 2, 3, bias=False)
    model = model.to(dev)
    x = torch.randn(a.batch, 1, a.size, a.size).to(dev)
    y = (torch.arange(a.batch) % 2).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    model.train()
    for _ in range(a.warmup):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    sync()
    train_s = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        for _ in range(a.warmup):
            model(x)
        sync()
        t0 = time.perf_counter()
        for _ in range(a.steps):
            model(x)
        sync()
        infer_s = time.perf_counter() - t0
    imgs = a.batch * a.steps
    print(json.dumps({"engine": "pytorch", "version": torch.__version__, "threads": torch.get_num_threads(),
                      "batch": a.batch, "size": a.size, "steps": a.steps,
                      "train_img_per_s": imgs / train_s, "infer_img_per_s": imgs / infer_s,
                      "train_step_ms": 1e3 * train_s / a.steps, "device": str(dev), "tf32": a.tf32}))


if __name__ == "__main__":
    main()
