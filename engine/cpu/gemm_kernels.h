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

struct MicroKernel {
  Isa isa;
  int mr, nr;
  MicroKernelFn run;
};

// Defined in gemm_avx512.cc, gemm_avx2.cc and gemm_generic.cc.
extern const MicroKernel kAvx512Kernel;
extern const MicroKernel kAvx2Kernel;
extern const MicroKernel kGenericKernel;

const MicroKernel& micro_kernel(Isa isa);

}  // namespace lb::cpu::detail
