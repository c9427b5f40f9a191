#!/usr/bin/env python3
"""make_seeds.py: writes the seed inputs of tests/fuzz/corpus/<target>/ (plain Python, no numpy).

Seeds (seed-*) are small valid files the fuzzers start from and the replay suite requires to
parse; limit-* files are hand-made hostile headers (absurd shapes, overflowing sizes, more data
claimed than held) that must be refused before any allocation. Inputs the fuzzers found are kept
beside them as crash-<target>-<what> (copied from libFuzzer's crash-<sha1> files).
Run from the repository root: python3 tests/fuzz/make_seeds.py
"""
import json
import os
import shutil
import struct
import zipfile

ROOT = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(ROOT, "corpus")
FIXTURES = os.path.join(ROOT, "..", "fixtures")


def npy(descr, shape, payload, version=1):
    shape_txt = "(" + "".join(f"{d}, " for d in shape).rstrip(" ") + ")" if len(shape) != 1 else f"({shape[0]},)"
    if len(shape) > 1:
        shape_txt = "(" + ", ".join(str(d) for d in shape) + ")"
    d = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_txt}, }}"
    pre = 10 if version == 1 else 12
    total = (pre + len(d) + 1 + 63) // 64 * 64
    d = d + " " * (total - pre - len(d) - 1) + "\n"
    ln = struct.pack("<H", len(d)) if version == 1 else struct.pack("<I", len(d))
    return b"\x93NUMPY" + bytes([version, 0]) + ln + d.encode() + payload


def npz(members, deflate=True):
    import io
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED) as z:
        for name, data in members:
            z.writestr(zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0)), data,
                       zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED)
    return buf.getvalue()


def safetensors(tensors, metadata=None):
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, payload in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def tiny_medmnist():
    members = []
    for split, n in (("train", 4), ("val", 2), ("test", 2)):
        members.append((f"{split}_images", npy("|u1", (n, 4, 4), bytes((i * 37) % 256 for i in range(n * 16)))))
        members.append((f"{split}_labels", npy("|u1", (n, 1), bytes(i % 2 for i in range(n)))))
    return npz(members)


def write(target, name, data):
    os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    with open(os.path.join(CORPUS, target, name), "wb") as f:
        f.write(data)


def copy(target, name, fixture):
    os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    shutil.copyfile(os.path.join(FIXTURES, fixture), os.path.join(CORPUS, target, name))


def main():
    # npy
    for f in ("f4_2x3", "b1_2x3", "f8_v2", "u1_3x4x4", "i8_5x1", "f8_scalar"):
        copy("npy", f"seed-{f}.npy", f"npy/{f}.npy")
    write("npy", "limit-1e12-elements.npy", npy("<f4", (1000000, 1000000), b"\0" * 16))
    write("npy", "limit-int64-overflow.npy", npy("<f8", (4294967296, 4294967296, 4), b""))
    write("npy", "limit-more-than-held.npy", npy("<f4", (1000,), b"\0" * 40))
    write("npy", "limit-huge-header-length.npy", b"\x93NUMPY\x02\x00\xff\xff\xff\x7f{}")
    # npz (and MedMNIST on top of it)
    copy("npz", "seed-stored.npz", "io/npz_stored.npz")
    copy("npz", "seed-deflated.npz", "io/npz_deflated.npz")
    write("npz", "seed-tiny-medmnist.npz", tiny_medmnist())
    write("npz", "limit-member-1e12-elements.npz", npz([("x", npy("<f4", (1000000, 1000000), b"\0" * 64))]))
    write("npz", "limit-member-overflow.npz", npz([("x", npy("<i8", (2**40, 2**40), b""))], deflate=False))
    write("npz", "limit-label-1e18.npz", npz([
        (f"{s}_{k}", npy("|u1", (2, 2, 2), b"\1" * 8) if k == "images" else npy("<i8", (2, 1), struct.pack("<qq", 0, 10**18)))
        for s in ("train", "val", "test") for k in ("images", "labels")]))
    # safetensors
    copy("safetensors", "seed-handmade.safetensors", "io/handmade.safetensors")
    write("safetensors", "seed-small.safetensors", safetensors(
        [("w", "F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)), ("h", "F16", [2], b"\x00\x3c\x00\xc0"),
         ("b", "BOOL", [3], b"\1\0\2")], {"arch": "resnet18"}))
    write("safetensors", "limit-1e12-elements.safetensors", safetensors([("w", "F32", [1000000, 1000000], b"\0" * 16)]))
    write("safetensors", "limit-overflow.safetensors", safetensors([("w", "F64", [2**62, 2**62], b"")]))
    write("safetensors", "limit-huge-header.safetensors", struct.pack("<Q", 2**63) + b"{}")
    # png (and JPEG/BMP through the same decoder)
    for f in ("grey_3x5.png", "rgb_3x4.png", "rgba_2x3.png", "grey16_2x2.png", "flat_8x8.jpg", "rgb_3x4.bmp"):
        copy("png", "seed-" + f, "io/" + f)
    # A valid 1x1 PNG whose IHDR claims 20000 x 20000 (the CRC is right, the pixels are missing).
    import zlib
    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    write("png", "limit-20000x20000.png", b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
          chunk(b"IDAT", zlib.compress(b"\0\0")) + chunk(b"IEND", b""))
    # run config (what --resume reads from a run folder)
    cfg = {"data": "data/pneumoniamnist.npz", "out": "runs/train", "init": "random", "conv1": "sum", "epochs": 5,
           "batch_size": 128, "optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 0.0,
           "nesterov": False, "schedule": "none", "warmup_epochs": 0, "train_only": "", "unfreeze_every": 0,
           "augment": "none", "norm_mean": 0.5, "norm_std": 0.5, "seed": 0, "patience": 0}
    write("run_config", "seed-default.json", json.dumps(cfg, indent=2).encode())
    cfg2 = dict(cfg, optimizer="adamw", schedule="step:3:0.1", warmup_epochs=1, augment="shift=2,rotate=10,hflip=1",
                train_only="fc,layer4", unfreeze_every=2, patience=3)
    write("run_config", "seed-step-adamw.json", json.dumps(cfg2).encode())
    write("run_config", "limit-negative-seed.json", json.dumps(dict(cfg, seed=-1)).encode())
    write("run_config", "limit-epochs-overflow.json", json.dumps(dict(cfg, epochs=2**62, schedule="step:4611686018427387904:0.5")).encode())
    write("run_config", "limit-wrong-types.json", json.dumps(dict(cfg, lr="0.1", epochs=2.5)).encode())


if __name__ == "__main__":
    main()
