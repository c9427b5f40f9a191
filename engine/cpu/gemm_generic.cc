// cpu/gemm_generic.cc: the portable micro-kernel, a 4 x 8 tile of C in plain C++, for any CPU
// (compiled with the project's default flags: SSE2 on x86-64, whatever the target has elsewhere).
//
// Why 4 x 8. The compiler vectorises the inner j loop; with SSE2's 16 registers of 4 floats, a
// 4 x 8 tile is 8 accumulator registers plus 2 for the row of B and 1 broadcast, which fits without
// spilling, and still does 32 multiply-adds per 12 values loaded. It is the fallback, and the
// readable statement of what the intrinsic kernels compute.
#include "engine/cpu/gemm_kernels.h"

namespace lb::cpu::detail {

namespace {

constexpr int kMr = 4, kNr = 8;

void kernel_4x8(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta, int m,
                int n) {
  float acc[kMr][kNr] = {};  // acc: (MR, NR), the tile of C in registers
  for (int64_t k = 0; k < kc; ++k) {
    for (int r = 0; r < kMr; ++r)
      for (int j = 0; j < kNr; ++j) acc[r][j] += a[r] * b[j];
    a += kMr;
    b += kNr;
  }
  for (int r = 0; r < m; ++r)
    for (int j = 0; j < n; ++j) {
      float& cij = c[r * ldc + j];
      cij = alpha * acc[r][j] + (beta != 0.0f ? beta * cij : 0.0f);
    }
}

}  // namespace

const MicroKernel kGenericKernel{Isa::Generic, kMr, kNr, kernel_4x8};

}  // namespace lb::cpu::detail
