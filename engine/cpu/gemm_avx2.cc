// cpu/gemm_avx2.cc: the AVX2 + FMA micro-kernel, a 6 x 16 tile of C (compiled with -mavx2 -mfma;
// run only where CPUID says AVX2 and FMA and the OS saves ymm registers).
//
// Why 6 x 16. A ymm register holds 8 floats, and there are 16 of them. The tile is 6 rows by two
// registers (16 columns): 12 accumulators, 2 for the row of B, 1 for the broadcast A value: 15 of
// 16. Per step of k: 2 vector loads of B, 6 broadcasts of A, 12 FMAs; two FMA units with a 4-5
// cycle latency need 8-10 FMAs in flight, and 12 independent accumulators cover it. This is the
// classic Haswell SGEMM shape (BLIS's haswell kernel has the same register budget). M edges (M = 64
// is 10 tiles and 4 rows) waste 1/33 of the work.
//
// AVX2 has no write masks for this, so an edge tile (m < 6 or n < 16) is computed in full and
// copied out of a small stack tile.
#include <immintrin.h>

#include "engine/cpu/gemm_kernels.h"

namespace lb::cpu::detail {

namespace {

constexpr int kMr = 6, kNr = 16;

void kernel_6x16(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta, int m,
                 int n) {
  __m256 acc[kMr][2];
#pragma GCC unroll 6
  for (int r = 0; r < kMr; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
    for (int r = 0; r < kMr; ++r) {
      const __m256 ar = _mm256_broadcast_ss(a + r);
      acc[r][0] = _mm256_fmadd_ps(ar, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(ar, b1, acc[r][1]);
    }
    a += kMr;
    b += kNr;
  }
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  if (m == kMr && n == kNr) {
#pragma GCC unroll 6
    for (int r = 0; r < kMr; ++r) {
      float* cr = c + r * ldc;
      __m256 v0 = _mm256_mul_ps(va, acc[r][0]), v1 = _mm256_mul_ps(va, acc[r][1]);
      if (beta != 0.0f) {
        v0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr), v0);
        v1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr + 8), v1);
      }
      _mm256_storeu_ps(cr, v0);
      _mm256_storeu_ps(cr + 8, v1);
    }
    return;
  }
  alignas(32) float tile[kMr][kNr];  // tile: (MR, NR), the full product before the edge copy
  for (int r = 0; r < kMr; ++r) {
    _mm256_store_ps(tile[r], _mm256_mul_ps(va, acc[r][0]));
    _mm256_store_ps(tile[r] + 8, _mm256_mul_ps(va, acc[r][1]));
  }
  for (int r = 0; r < m; ++r)
    for (int j = 0; j < n; ++j) c[r * ldc + j] = tile[r][j] + (beta != 0.0f ? beta * c[r * ldc + j] : 0.0f);
}

}  // namespace

const MicroKernel kAvx2Kernel{Isa::Avx2, kMr, kNr, kernel_6x16};

}  // namespace lb::cpu::detail
