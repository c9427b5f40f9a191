#!/usr/bin/env python3
"""Markdown tables from `lightbox bench kernels --out FILE.json` (docs/benchmarks.md).

One row per layer and direction: lightbox's kernel (fp32 and TF32), cuDNN (fp32 and TF32), the
naive variant 1, the CPU where it was timed, and speed(custom) / speed(cuDNN) in the same math
(>= 0.7 is the issue's target). Usage: tools/bench/lab_table.py lab28.json [more.json ...]
"""
import json
import sys


def ms(r):
    return f"{r['ms']:.3f}" if r and r.get("ms") else "-"


def table(path):
    d = json.load(open(path))
    dev = d["device"]
    print(f"\n`{path}`: {dev['name']}, {dev['sm_count']} SMs at {dev['clock_ghz']:.2f} GHz; "
          f"fp32 peak {dev['peak_fp32_gflops'] / 1e3:.1f} TFLOP/s, memory {dev['peak_gbps']:.0f} GB/s.\n")
    print("| layer | direction | custom ms | cuDNN ms | **custom/cuDNN** | custom TF32 ms | cuDNN TF32 ms | TF32 ratio | naive (1) ms | CPU ms | custom rate | checks |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    groups = {}
    for r in d["rows"]:
        groups.setdefault((r["input_size"], r["layer"], r["direction"]), {})[r["variant"]] = r
    met = total = 0
    for (size, layer, direction), v in groups.items():
        c, n = v.get("custom-fp32") or v.get("custom"), v.get("cudnn-fp32") or v.get("cudnn")
        t, nt = v.get("custom-tf32"), v.get("cudnn-tf32")
        ratio = n["ms"] / c["ms"] if c and n and c.get("ms") and n.get("ms") else None
        tratio = nt["ms"] / t["ms"] if t and nt and t.get("ms") and nt.get("ms") else None
        if ratio is not None:
            total += 1
            met += ratio >= 0.7
        rate = "-"
        if c and c.get("gflops"):
            rate = f"{c['gflops'] / 1e3:.1f} TFLOP/s ({c['pct_peak']:.0f}%)"
        elif c and c.get("gbps"):
            rate = f"{c['gbps']:.0f} GB/s ({c['pct_peak']:.0f}%)"
        checks = "all pass" if all(r.get("pass", True) for r in v.values() if r.get("checked")) else \
            "FAIL: " + ",".join(k for k, r in v.items() if r.get("checked") and not r.get("pass", True))
        fmt = lambda x: f"{x:.2f}" if x is not None else "-"
        bold = f"**{fmt(ratio)}**" if ratio is not None and ratio < 0.7 else fmt(ratio)
        print(f"| {layer} | {direction} | {ms(c)} | {ms(n)} | {bold} | {ms(t)} | {ms(nt)} | {fmt(tratio)} | "
              f"{ms(v.get('1'))} | {ms(v.get('cpu'))} | {rate} | {checks} |")
    print(f"\ncustom/cuDNN >= 0.7 (fp32): {met} of {total} layer-directions.")
    v2_table(groups)


def v2_table(groups):
    """The v2 conv skeleton (lab/conv2d_v2.cuh, lab-only) beside v1 ("custom") and cuDNN."""
    rows = [(k, v) for k, v in groups.items() if "v2-fp32" in v]
    if not rows:
        return
    fmt = lambda x: f"{x:.2f}" if x is not None else "-"
    ratio = lambda a, b: b["ms"] / a["ms"] if a and b and a.get("ms") and b.get("ms") else None
    print("\n| layer | direction | v1 ms | v2 ms | v1/v2 (speed-up) | **v2/cuDNN** | v2 TF32 ms | v2 TF32/cuDNN TF32 | checks |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    met = total = 0
    for (size, layer, direction), v in rows:
        c, v2, n = v.get("custom-fp32"), v.get("v2-fp32"), v.get("cudnn-fp32")
        t2, nt = v.get("v2-tf32"), v.get("cudnn-tf32")
        r = ratio(v2, n)
        if r is not None:
            total += 1
            met += r >= 0.7
        ok = all(x.get("pass", True) for x in (v2, t2) if x and x.get("checked"))
        print(f"| {layer} | {direction} | {ms(c)} | {ms(v2)} | {fmt(ratio(v2, c))} | {fmt(r)} | {ms(t2)} | "
              f"{fmt(ratio(t2, nt))} | {'pass' if ok else 'FAIL'} |")
    print(f"\nv2/cuDNN >= 0.7 (fp32): {met} of {total} layer-directions.")


for p in sys.argv[1:]:
    table(p)
