#!/usr/bin/python3
"""torch_sweep.py: `lightbox sweep`'s runs, trained by PyTorch instead, for the parity study.

Reads the same RECIPES.json (config.json's keys: epochs, batch_size, lr, momentum, weight_decay,
nesterov, schedule, augment, norm_mean, norm_std) and trains each recipe x seed the way lightbox's
trainer does, step for step:

  model      torchvision resnet18(num_classes=2), conv1 = Conv2d(C, 64, 7, 2, 3, bias=False),
             every conv kaiming_normal_(fan_out, relu) (lightbox's and torchvision's init; a
             conv1 replaced after construction would otherwise keep nn.Conv2d's default init:
             the recipe key "conv1_init": "default" trains that variant)
  data       the .npz's train split shuffled every epoch, batches of batch_size, the last one
             partial; pixels / 255, augmented in [0, 1] then (x - norm_mean) / norm_std
  augment    lightbox's spec (engine/data/augment.h): shift (whole pixels) or translate
             (sub-pixel), rotate, bilinear, fill zero or border, then hflip, contrast about
             the image mean, brightness, clamp to [0, 1]; the warp is affine_grid +
             grid_sample(align_corners=True), the map lightbox's warp_image is tested against
  optimizer  SGD(lr, momentum, weight_decay on every parameter, nesterov)
  schedule   none | cosine (CosineAnnealingLR over the run) | step:EPOCHS:GAMMA | onecycle | onecycle:PCT
             (OneCycleLR, pct_start 0.3 or PCT, momentum cycled 0.95 -> 0.85 -> 0.95)
  selection  val AUC after every epoch; the best epoch's weights (first best on ties) are the
             model, saved as OUT/R/seed-s/best.safetensors with torchvision's names

The test split is evaluated once per run by `lightbox eval` on that file (the same metric code
as lightbox's own runs; the sweep layout is lightbox sweep's: OUT/R/seed-s/eval-test/
metrics.json), so tools/parity/compare.py reads both engines' folders alike. Finished runs are
skipped; an unfinished one starts again.

    /usr/bin/python3 tools/parity/torch_sweep.py tools/parity/recipes.json --seeds 0-4 \\
        --out runs/parity/torch --threads 2 --lightbox build/bin/lightbox

Needs Debian's python3-torch and python3-torchvision (the pyenv python3 on PATH has neither).
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
    import torchvision
except ImportError as e:
    sys.exit(f"torch_sweep.py: {e}; run it with Debian's python3-torch and python3-torchvision "
             "(/usr/bin/python3)")

KNOWN = {"epochs", "batch_size", "lr", "momentum", "weight_decay", "nesterov", "schedule", "augment",
         "norm_mean", "norm_std", "conv1_init"}
DEFAULTS = {"epochs": 5, "batch_size": 128, "lr": 0.01, "momentum": 0.9, "weight_decay": 0.0,
            "nesterov": False, "schedule": "none", "augment": "none", "norm_mean": 0.5,
            "norm_std": 0.5, "conv1_init": "kaiming"}


def parse_seeds(text):
    out = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-")
            out += list(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    return out


def parse_augment(spec):
    """lightbox's parse_augment, the keys this study uses ("light" included)."""
    a = {"shift": 0, "translate": 0.0, "rotate": 0.0, "brightness": 0.0, "contrast": 0.0,
         "hflip": False, "fill": "zero"}
    if spec in ("", "none"):
        return a
    if spec == "light":
        return dict(a, shift=2, rotate=10.0, brightness=0.1, contrast=0.1)
    for item in spec.split(","):
        k, v = item.split("=")
        if k == "shift":
            a[k] = int(v)
        elif k in ("translate", "rotate", "brightness", "contrast"):
            a[k] = float(v)
        elif k == "hflip":
            a[k] = v in ("1", "true", "on")
        elif k == "fill":
            a[k] = "border" if v == "border" else "zero"
        else:
            raise SystemExit(f"torch_sweep.py: unknown augment key '{k}'")
    if a["shift"] and a["translate"]:
        raise SystemExit("torch_sweep.py: shift or translate, not both")
    return a


def augment(x, a, gen):
    """x: (N, C, H, W) in [0, 1]; lightbox's augment_image for each sample, batched."""
    n, _, h, w = x.shape
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(n, generator=gen, dtype=torch.float64)
    angle = u(-a["rotate"], a["rotate"]) if a["rotate"] > 0 else torch.zeros(n, dtype=torch.float64)
    if a["shift"] > 0:
        sy = torch.randint(-a["shift"], a["shift"] + 1, (n,), generator=gen).double()
        sx = torch.randint(-a["shift"], a["shift"] + 1, (n,), generator=gen).double()
    elif a["translate"] > 0:
        sy, sx = u(-a["translate"], a["translate"]), u(-a["translate"], a["translate"])
    else:
        sy = sx = torch.zeros(n, dtype=torch.float64)
    if a["rotate"] > 0 or a["shift"] > 0 or a["translate"] > 0:
        x = warp(x, angle, sy, sx, a["fill"])
    if a["hflip"]:
        flip = torch.rand(n, generator=gen) < 0.5
        x[flip] = x[flip].flip(-1)
    if a["contrast"] > 0:
        f = u(1 - a["contrast"], 1 + a["contrast"]).float().view(n, 1, 1, 1)
        m = x.mean(dim=(1, 2, 3), keepdim=True)
        x = m + f * (x - m)
    if a["brightness"] > 0:
        x = x + u(-a["brightness"], a["brightness"]).float().view(n, 1, 1, 1)
    return x.clamp(0, 1)


def warp(x, angle_deg, sy, sx, fill):
    """lightbox's warp_image: output (i, j) reads the source at the inverse of 'rotate by angle
    about the centre ((H-1)/2, (W-1)/2), then move by (sy, sx)', in grid_sample's normalised
    coordinates with align_corners=True (pixel k at -1 + 2k / (size - 1))."""
    _, _, h, w = x.shape
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    a = angle_deg * math.pi / 180.0
    ca, sa = torch.cos(a), torch.sin(a)
    theta = torch.stack([
        torch.stack([ca, -sa * cy / cx, (sa * sy - ca * sx) / cx], -1),
        torch.stack([sa * cx / cy, ca, -(ca * sy + sa * sx) / cy], -1)], -2).float()
    grid = F.affine_grid(theta, list(x.shape), align_corners=True)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros" if fill == "zero" else "border",
                         align_corners=True)


def auc(scores, labels):
    """ROC AUC with tied scores counted half (Mann-Whitney), as lightbox's and sklearn's."""
    order = np.argsort(scores, kind="mergesort")
    s = scores[order]
    ranks = np.empty(len(s))
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1
        i = j + 1
    pos = labels == 1
    n1, n0 = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0)


def make_model(channels, classes, conv1_init, seed):
    torch.manual_seed(seed)
    m = torchvision.models.resnet18(num_classes=classes)
    m.conv1 = torch.nn.Conv2d(channels, 64, 7, 2, 3, bias=False)
    if conv1_init == "kaiming":
        torch.nn.init.kaiming_normal_(m.conv1.weight, mode="fan_out", nonlinearity="relu")
    return m


def make_schedule(opt, r, steps):
    total = r["epochs"] * steps
    s = r["schedule"]
    if s == "none":
        return None
    if s == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, total)
    if s == "onecycle" or s.startswith("onecycle:"):
        pct = float(s.split(":")[1]) if ":" in s else 0.3
        return torch.optim.lr_scheduler.OneCycleLR(opt, r["lr"], total_steps=total, pct_start=pct)
    if s.startswith("step:"):  # step:EPOCHS:GAMMA, stepped per batch like lightbox's StepLR
        every, gamma = s.split(":")[1:]
        return torch.optim.lr_scheduler.StepLR(opt, int(every) * steps, float(gamma))
    raise SystemExit(f"torch_sweep.py: unknown schedule '{s}' (none, cosine, onecycle[:PCT], step:EPOCHS:GAMMA)")


def save_safetensors(path, state, meta):
    """The safetensors format by hand (no extra package): an 8-byte header length, a JSON header
    of dtype/shape/offsets and __metadata__, then the raw little-endian tensors."""
    header, blobs, off = {"__metadata__": meta}, [], 0
    for k, v in state.items():
        a = v.detach().cpu().contiguous().numpy()
        dtype = {np.float32: "F32", np.int64: "I64"}[a.dtype.type]
        b = a.tobytes()
        header[k] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h + b"".join(blobs))
    os.replace(tmp, path)


def predict(model, x, bs=512):
    model.eval()
    with torch.no_grad():
        return torch.cat([torch.softmax(model(x[i:i + bs]), 1)[:, 1] for i in range(0, len(x), bs)]).numpy()


def train_run(r, seed, data, run_dir, lb, data_path):
    xs = {s: torch.from_numpy(data[f"{s}_images"]).float().div(255) for s in ("train", "val")}
    xs = {s: (v.unsqueeze(1) if v.dim() == 3 else v.permute(0, 3, 1, 2)).contiguous() for s, v in xs.items()}
    ys = {s: torch.from_numpy(data[f"{s}_labels"].reshape(-1).astype(np.int64)) for s in ("train", "val")}
    norm = lambda x: (x - r["norm_mean"]) / r["norm_std"]
    a = parse_augment(r["augment"])
    model = make_model(xs["train"].shape[1], 2, r["conv1_init"], seed)
    opt = torch.optim.SGD(model.parameters(), lr=r["lr"], momentum=r["momentum"],
                          weight_decay=r["weight_decay"], nesterov=r["nesterov"])
    n, bs = len(xs["train"]), r["batch_size"]
    steps = (n + bs - 1) // bs
    sched = make_schedule(opt, r, steps)
    history, best, t_run = [], -1.0, time.time()
    for e in range(r["epochs"]):
        t0 = time.time()
        gen = torch.Generator().manual_seed(seed * 1000003 + e)
        perm = torch.randperm(n, generator=gen)
        model.train()
        loss_sum = correct = 0.0
        for i in range(steps):
            idx = perm[i * bs:(i + 1) * bs]
            x = xs["train"][idx]
            if any(a[k] for k in ("shift", "translate", "rotate", "brightness", "contrast", "hflip")):
                x = augment(x, a, gen)
            logits = model(norm(x))
            loss = F.cross_entropy(logits, ys["train"][idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            lr = opt.param_groups[0]["lr"]
            opt.step()
            if sched is not None:
                sched.step()
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == ys["train"][idx]).sum().item()
        p = predict(model, norm(xs["val"]))
        val_auc = auc(p, ys["val"].numpy())
        rec = {"epoch": e + 1, "lr": lr, "train_loss": loss_sum / n, "train_acc": correct / n,
               "val_acc": float(((p > 0.5) == (ys["val"].numpy() == 1)).mean()), "val_auc": val_auc,
               "seconds": time.time() - t0}
        history.append(rec)
        if val_auc > best:
            best = val_auc
            save_safetensors(os.path.join(run_dir, "best.safetensors"), model.state_dict(),
                             {"arch": "resnet18", "normalization": json.dumps(
                                 {"mean": r["norm_mean"], "std": r["norm_std"]}),
                              "config": json.dumps(dict(r, seed=seed, engine="pytorch"))})
        print(f"  epoch {e + 1}/{r['epochs']} loss {rec['train_loss']:.4f} val auc {val_auc:.4f} "
              f"({rec['seconds']:.1f} s)", flush=True)
    with open(os.path.join(run_dir, "history.json"), "w") as f:
        json.dump(history, f, indent=1)
    subprocess.run([lb, "eval", "--weights", os.path.join(run_dir, "best.safetensors"), "--data", data_path,
                    "--split", "test", "--out", os.path.join(run_dir, "eval-test"), "--bootstrap", "0",
                    "--quiet"], check=True, stdout=subprocess.DEVNULL)
    return time.time() - t_run


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("recipes")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", default="runs/parity/torch")
    ap.add_argument("--data", default="data/pneumoniamnist.npz")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--lightbox", default="build/bin/lightbox", help="the lightbox binary that evaluates on test")
    ap.add_argument("--only", default="", help="comma-separated recipe names (default: all)")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if not os.access(args.lightbox, os.X_OK):
        sys.exit(f"torch_sweep.py: {args.lightbox} is not an executable; build lightbox or pass --lightbox")
    recipes = json.load(open(args.recipes))
    only = set(filter(None, args.only.split(",")))
    data = np.load(args.data)
    for name, settings in recipes.items():
        if only and name not in only:
            continue
        bad = set(settings) - KNOWN
        if bad:
            sys.exit(f"torch_sweep.py: recipe '{name}' sets {sorted(bad)}, which this script does not implement")
        r = dict(DEFAULTS, **settings)
        for seed in parse_seeds(args.seeds):
            run_dir = os.path.join(args.out, name, f"seed-{seed}")
            if os.path.exists(os.path.join(run_dir, "eval-test", "metrics.json")):
                continue
            os.makedirs(run_dir, exist_ok=True)
            with open(os.path.join(run_dir, "config.json"), "w") as f:
                json.dump(dict(r, seed=seed, engine="pytorch", torch=torch.__version__,
                               threads=torch.get_num_threads()), f, indent=1)
            print(f"{name} seed {seed}", flush=True)
            s = train_run(r, seed, data, run_dir, args.lightbox, args.data)
            print(f"{name} seed {seed}: {s:.0f} s", flush=True)


if __name__ == "__main__":
    main()
