#!/usr/bin/python3
"""convert_weights.py: torchvision ResNet18 weights -> a lightbox .safetensors file.

Why: lightbox fine-tunes from ImageNet (docs/06-transfer-learning.md). The engine reads
safetensors with torchvision's parameter names (design.md, "Files and formats"), so conversion is
a rename-free copy of the state dict plus lightbox's metadata:

    arch           "resnet18"
    in_channels    "3"                      (read off conv1.weight)
    num_classes    "1000"                   (read off fc.weight)
    normalization  {"mean": 0.449, "std": 0.226,
                    "mean_rgb": [0.485, 0.456, 0.406], "std_rgb": [0.229, 0.224, 0.225], ...}
                   ImageNet's per-channel statistics as lists; "mean"/"std" are the means of
                   those lists, the scalar pair lightbox's loader reads, and the one a grey model
                   adapted from these weights (load_imagenet, --conv1 sum) should be fed with
    class_names    ImageNet's 1000 categories (only with --torchvision, where torchvision has them)
    image_size     "224"
    source         where the weights came from

Usage, with Debian's Python (torch 1.13, torchvision 0.14):

    python3 tools/convert_weights.py --torchvision --out resnet18_imagenet.safetensors
        downloads torchvision.models.resnet18(weights="IMAGENET1K_V1") (needs internet)
    python3 tools/convert_weights.py resnet18-f37072fd.pth --out resnet18_imagenet.safetensors
        a saved state dict (a plain dict, or one under "state_dict"/"model"; a "module." prefix
        from DataParallel is stripped)

timm's resnet18 (`timm/resnet18.a1_in1k`, model.safetensors) uses the same parameter names and
already is safetensors: it loads in lightbox unchanged, without this script (its file has no
lightbox metadata, so normalization defaults apply; pass --norm-mean/--norm-std when training).

The file format is written here with struct + json, exactly as engine/io/safetensors.cc reads it
(huggingface/safetensors' "Format"): 8-byte little-endian header length N, N bytes of JSON padded
with spaces to a multiple of 8, then the tensors' little-endian row-major bytes back to back in
header order; "__metadata__" maps strings to strings. The output is written to a temporary file
in the same folder and renamed over the target (atomic), so an interrupted run leaves no half file.
"""

import argparse
import json
import os
import struct
import sys
import tempfile

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

# safetensors dtype names of the torch dtypes this writer emits.
_DTYPES = {"torch.float32": "F32", "torch.int64": "I64"}


def _torch():
    try:
        import torch  # noqa: F401
        import torchvision  # noqa: F401
    except ImportError as e:
        sys.exit(f"convert_weights.py: {e}; use Debian's Python with torch and torchvision: /usr/bin/python3")
    import torch
    import torchvision
    return torch, torchvision


def reference_keys(num_classes):
    """torchvision resnet18's state dict: ordered {name: shape} (3 input channels)."""
    _, torchvision = _torch()
    model = torchvision.models.resnet18(weights=None, num_classes=num_classes)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def check_resnet18(sd):
    """Raises ValueError unless sd holds exactly torchvision resnet18's tensors (any class count)."""
    if "fc.weight" not in sd:
        raise ValueError("no 'fc.weight': this is not a ResNet18 state dict")
    num_classes = sd["fc.weight"].shape[0]
    ref = reference_keys(num_classes)
    missing = [k for k in ref if k not in sd]
    unexpected = [k for k in sd if k not in ref]
    if missing or unexpected:
        raise ValueError(f"not a torchvision resnet18 state dict: missing {missing}, unexpected {unexpected}")
    for k, shape in ref.items():
        if k == "conv1.weight":  # any number of input channels
            ok = tuple(sd[k].shape[:1] + sd[k].shape[2:]) == shape[:1] + shape[2:]
        else:
            ok = tuple(sd[k].shape) == shape
        if not ok:
            raise ValueError(f"{k}: shape {tuple(sd[k].shape)}, resnet18 has {shape}")


def metadata_for(sd, source, class_names=None):
    """lightbox's __metadata__ for a resnet18 state dict (all values strings)."""
    grey_mean = sum(IMAGENET_MEAN) / 3
    grey_std = sum(IMAGENET_STD) / 3
    md = {
        "format": "pt",
        "arch": "resnet18",
        "in_channels": str(sd["conv1.weight"].shape[1]),
        "num_classes": str(sd["fc.weight"].shape[0]),
        "normalization": json.dumps({
            "mean": grey_mean, "std": grey_std,
            "mean_rgb": IMAGENET_MEAN, "std_rgb": IMAGENET_STD,
            "note": "per-channel ImageNet statistics in mean_rgb/std_rgb; mean/std are their means, "
                    "for a grey model adapted with --conv1 (and for lightbox's scalar normalization)"}),
        "image_size": "224",
        "source": source,
    }
    if class_names is not None and len(class_names) == sd["fc.weight"].shape[0]:
        md["class_names"] = json.dumps(list(class_names))
    return md


def encode_safetensors(tensors, metadata):
    """The bytes of a .safetensors file: tensors is an ordered list of (name, torch tensor)."""
    header = {}
    chunks = []
    offset = 0
    for name, t in tensors:
        t = t.detach().cpu().contiguous()
        dtype = _DTYPES.get(str(t.dtype))
        if dtype is None:
            raise ValueError(f"{name}: dtype {t.dtype} is not written (F32 and I64 only)")
        data = t.numpy().astype(t.numpy().dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # data starts 8-byte aligned, as the reference writer does
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def read_safetensors(path):
    """(ordered [(name, numpy array)], metadata) of a file this script wrote (for round-trip checks)."""
    import numpy as np
    kinds = {"F32": "<f4", "I64": "<i8", "F16": "<f2"}
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = []
    for name, h in header.items():  # json keeps the file's order
        b, e = h["data_offsets"]
        a = np.frombuffer(blob[base + b:base + e], dtype=kinds[h["dtype"]]).reshape(h["shape"])
        out.append((name, a.copy()))
    return out, meta


def write_atomic(path, data):
    """Writes data to a temporary file next to path, then renames it over path."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".convert_weights.", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def convert_state_dict(sd, out, source, class_names=None):
    """Checks sd is a resnet18 state dict and writes it to out as lightbox safetensors."""
    torch, _ = _torch()
    check_resnet18(sd)
    tensors = []
    for name, t in sd.items():
        t = t.detach()
        if t.is_floating_point():
            t = t.to(torch.float32)  # the engine computes in float32; F16 sources are widened exactly
        tensors.append((name, t))
    write_atomic(out, encode_safetensors(tensors, metadata_for(sd, source, class_names)))


def load_pth(path):
    """A state dict from a .pth file: plain, or under "state_dict"/"model"; "module." stripped."""
    torch, _ = _torch()
    obj = torch.load(path, map_location="cpu")
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a state dict, found {type(obj).__name__}")
    return {(k[7:] if k.startswith("module.") else k): v for k, v in obj.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description="torchvision ResNet18 weights -> lightbox safetensors")
    p.add_argument("pth", nargs="?", help="a torchvision resnet18 state dict (.pth)")
    p.add_argument("--torchvision", action="store_true",
                   help='use torchvision.models.resnet18(weights="IMAGENET1K_V1") (downloads them)')
    p.add_argument("--out", required=True, help="output .safetensors path")
    a = p.parse_args(argv)
    if bool(a.pth) == a.torchvision:
        p.error("give either a .pth file or --torchvision")
    _, torchvision = _torch()
    try:
        if a.torchvision:
            weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
            model = torchvision.models.resnet18(weights=weights)
            convert_state_dict(model.state_dict(), a.out, "torchvision resnet18 IMAGENET1K_V1",
                               weights.meta.get("categories"))
        else:
            convert_state_dict(load_pth(a.pth), a.out, os.path.basename(a.pth))
    except (ValueError, OSError) as e:
        sys.exit(f"convert_weights.py: {e}")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
