#!/usr/bin/env python3
"""Draws docs/img/03-gemm-blocking.svg and docs/img/03-position-classes.svg (docs/03-cpu-ops.md).

Hand-placed SVG, no dependencies: python3 docs/img/make_03_figures.py"""
import os
HERE = os.path.dirname(os.path.abspath(__file__))
W,H=860,470
o=[]
a=o.append
a(f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="DejaVu Sans, Arial, sans-serif" font-size="13">')
a('<title>lightbox GEMM: BLIS cache blocks, packed panels and the 8 x 32 AVX-512 register tile</title>')
a(f'<rect width="{W}" height="{H}" fill="#ffffff"/>')
# A block
a('<text x="20" y="24" font-weight="bold">A (M x K): MR-row panels</text>')
a('<rect x="20" y="40" width="220" height="160" fill="#f2f2f2" stroke="#444"/>')
a('<rect x="80" y="40" width="70" height="160" fill="#56b4e9" fill-opacity="0.25" stroke="#56b4e9"/>')
a('<text x="82" y="215" font-size="11">KC: one K block</text>')
a('<rect x="80" y="100" width="70" height="20" fill="#56b4e9" stroke="#1f6f99"/>')
a('<text x="155" y="114" font-size="11">MR = 8 rows</text>')
a('<text x="20" y="232" font-size="11">MC x KC block stays in L2</text>')
# B block
a('<text x="300" y="24" font-weight="bold">B (K x N): NR-wide panels</text>')
a('<rect x="300" y="40" width="260" height="160" fill="#f2f2f2" stroke="#444"/>')
a('<rect x="300" y="80" width="260" height="50" fill="#e69f00" fill-opacity="0.25" stroke="#e69f00"/>')
a('<rect x="380" y="80" width="40" height="50" fill="#e69f00" stroke="#8a5d00"/>')
a('<text x="425" y="110" font-size="11">NR = 32 columns</text>')
a('<text x="300" y="215" font-size="11">KC x NC block in L3; a KC x NR micro-panel in L1</text>')
a('<text x="300" y="232" font-size="11">conv: packed straight from the activations (no im2col)</text>')
# C
a('<text x="610" y="24" font-weight="bold">C (M x N)</text>')
a('<rect x="610" y="40" width="230" height="160" fill="#f2f2f2" stroke="#444"/>')
a('<rect x="690" y="100" width="40" height="20" fill="#009e73" stroke="#005c43"/>')
a('<text x="610" y="215" font-size="11">one 8 x 32 tile: 16 zmm accumulators</text>')
# loops
loops=["for jc in N step NC:",
       "  for pc in K step KC:     pack B block (KC x NC)",
       "    for ic in M step MC:   A block from L2",
       "      for jr in NC step NR:  B micro-panel in L1",
       "        for ir in MC step MR:",
       "          C tile (MR x NR) += A panel x B panel"]
for i,l in enumerate(loops):
    a(f'<text x="20" y="{265+i*18}" font-family="DejaVu Sans Mono, monospace" font-size="12" xml:space="preserve">{l}</text>')
# register tile
x0,y0=560,262
a(f'<text x="{x0}" y="{y0-4}" font-weight="bold" font-size="12">the micro-kernel, one step of k</text>')
a(f'<rect x="{x0+60}" y="{y0+6}" width="100" height="14" fill="#e69f00" stroke="#8a5d00"/><text x="{x0+66}" y="{y0+17}" font-size="10">b[k][0..15]</text>')
a(f'<rect x="{x0+170}" y="{y0+6}" width="100" height="14" fill="#e69f00" stroke="#8a5d00"/><text x="{x0+176}" y="{y0+17}" font-size="10">b[k][16..31]</text>')
for r in range(8):
    y=y0+26+r*17
    a(f'<rect x="{x0}" y="{y}" width="50" height="14" fill="#56b4e9" stroke="#1f6f99"/><text x="{x0+4}" y="{y+11}" font-size="10">a[k][{r}]</text>')
    for c in range(2):
        a(f'<rect x="{x0+60+c*110}" y="{y}" width="100" height="14" fill="#009e73" fill-opacity="0.6" stroke="#005c43"/><text x="{x0+66+c*110}" y="{y+11}" font-size="10">acc{r}{c} += a*b</text>')
a(f'<text x="20" y="{H-30}" font-size="11">Per k: 2 vector loads of B, 8 broadcasts of A, 16 FMAs. 16 accumulators + 2 B + 1 broadcast = 19 of 32 zmm registers;</text>')
a(f'<text x="20" y="{H-14}" font-size="11">two FMA units x 4 cycles latency need 8 FMAs in flight. MR = 8 divides every ResNet channel count, so no row is wasted.</text>')
a('</svg>')
open(os.path.join(HERE, '03-gemm-blocking.svg'), 'w').write('\n'.join(o))

# position classes on a 7x7 map, 3x3 filter pad 1
o=[];a=o.append
W,H=700,300
a(f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="DejaVu Sans, Arial, sans-serif" font-size="13">')
a('<title>Position classes of a 3x3 stride-1 convolution on a 7x7 map</title>')
a(f'<rect width="{W}" height="{H}" fill="#ffffff"/>')
a('<text x="20" y="24" font-weight="bold">Output positions of a 7x7 map, 3x3 filter, pad 1: 9 classes</text>')
cols={'corner':'#e69f00','edge':'#56b4e9','inner':'#009e73'}
for p in range(7):
    for q in range(7):
        bp = p in (0,6); bq = q in (0,6)
        kind = 'corner' if bp and bq else ('edge' if bp or bq else 'inner')
        a(f'<rect x="{20+q*30}" y="{40+p*30}" width="28" height="28" fill="{cols[kind]}" fill-opacity="0.7" stroke="#333"/>')
        taps = (2 if bp else 3)*(2 if bq else 3)
        a(f'<text x="{28+q*30}" y="{59+p*30}" font-size="12">{taps}</text>')
a('<text x="20" y="270" font-size="11">number: live taps of the position (taps that read the image, not the padding)</text>')
x0=280
lines=["interior 5x5 (green): all 9 taps, one GEMM of C*9 rows",
       "4 edges (blue): 6 taps each, 4 GEMMs of C*6 rows",
       "4 corners (orange): 4 taps each, 4 GEMMs of C*4 rows",
       "",
       "Each class is one GEMM over exactly its live taps,",
       "its columns the class's positions in every image of a group.",
       "7x7: 18% of im2col's multiply-adds read padding;",
       "4x4: 31%; 2x2 (layer3 at 28x28): 56%; 1x1: 89%.",
       "None of them is computed."]
for i,l in enumerate(lines):
    a(f'<text x="{x0}" y="{60+i*20}" font-size="12">{l}</text>')
a('</svg>')
open(os.path.join(HERE, '03-position-classes.svg'), 'w').write('\n'.join(o))
