// cpu/gemm_kernels.h: the micro-kernels behind engine/cpu/gemm.h, one per instruction set, each
// in its own file compiled for that instruction set (CMakeLists.txt sets -mavx512f / -mavx2 -mfma
// on those files only, so the rest of lightbox stays runnable on any x86-64).
//
// A micro-kernel computes one MR x NR tile of C from a packed A panel and a packed B micro-panel:
//
//   a: (kc, MR)  element (k, r) at a[k*MR + r]        (one column of the tile's A rows per k)
//   b: (kc, NR)  element (k, j) at b[k*NR + j]        (one row of the tile's B columns per k)
//   c: the tile's top-left element in C, rows ldc apart
//   C[r][j] = alpha * sum_k a[k][r] * b[k][j] + beta * C[r][j]   for r < m, j < n
//
// The packed panels are zero-padded to MR and NR, so the kernel always runs the full tile and
// only the store looks at m and n. beta == 0 never reads C.
#pragma once

#include <cstdint>

#include "engine/cpu/cpu_info.h"

namespace lb::cpu::detail {

using MicroKernelFn = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha,
                               float beta, int m, int n);

// Optional ISA-specific packers of an indexed operand (gemm.h's IndexedView: element (i, j) at
// src[row[i] + col[j]]); null means the portable loops in gemm.cc. Neither rounds to bf16: the
// driver takes the portable loops in Bf16 mode.
//   pack_b: rows [k0, k0 + kc) x columns [j0, j0 + nc) into NR-wide panels (gemm.h's PackB layout)
//   pack_a: rows [i0, i0 + m), m <= MR, all K columns, into one MR-row panel, zero rows past m
using PackBIndexedFn = void (*)(const float* src, const int64_t* row, const int64_t* col, int64_t k0, int64_t kc,
                                int64_t j0, int64_t nc, float* dst);
using PackAIndexedFn = void (*)(const float* src, const int64_t* row, const int64_t* col, int64_t i0, int m, int64_t K,
                                float* dst);

struct MicroKernel {
  Isa isa;
  int mr, nr;
  MicroKernelFn run;
  PackBIndexedFn pack_b_indexed = nullptr;
  PackAIndexedFn pack_a_indexed = nullptr;
};

// Defined in gemm_avx512.cc, gemm_avx2.cc and gemm_generic.cc.
extern const MicroKernel kAvx512Kernel;
extern const MicroKernel kAvx2Kernel;
extern const MicroKernel kGenericKernel;

const MicroKernel& micro_kernel(Isa isa);

}  // namespace lb::cpu::detail
