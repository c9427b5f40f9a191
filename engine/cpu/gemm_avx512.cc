// cpu/gemm_avx512.cc: the AVX-512 micro-kernel, an 8 x 32 tile of C (compiled with -mavx512f
// -mfma; run only where CPUID says AVX-512F and the OS saves zmm registers: engine/cpu/cpu_info.h).
//
// Why 8 x 32. A zmm register holds 16 floats, and there are 32 of them. The tile is 8 rows by two
// registers (32 columns): 16 accumulators, 2 registers for the row of B, 1 for the broadcast A
// value, 13 left free, so nothing spills. Per step of k the kernel loads 2 vectors of B and 8
// scalars of A and issues 16 fused multiply-adds: with two FMA units (4-cycle latency) 8 FMAs must
// be in flight to keep them busy, and 16 independent accumulators give twice that. The 8 rows
// match ResNet's channel counts (64 ... 512, and C*R*S = 9*64 ...), all multiples of 8, so the M
// edge never wastes a lane; a wider 14 x 32 tile would waste 1/8 of the work at M = 64.
//
//         b[k][0..15] b[k][16..31]          (2 zmm loads per k)
//   a[k][0]  acc00       acc01              (a broadcast, 2 FMAs)
//   a[k][1]  acc10       acc11
//    ...
//   a[k][7]  acc70       acc71
//
// The edge of C (n < 32 or m < 8) is stored through AVX-512 write masks; the packed panels are
// zero-padded, so the arithmetic is the same for every tile.
#include <immintrin.h>

#include "engine/cpu/gemm_kernels.h"

namespace lb::cpu::detail {

namespace {

constexpr int kMr = 8, kNr = 32;

__mmask16 lane_mask(int n) { return n >= 16 ? __mmask16(0xffff) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1); }

void kernel_8x32(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta, int m,
                 int n) {
  __m512 acc[kMr][2];
#pragma GCC unroll 8
  for (int r = 0; r < kMr; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 8
    for (int r = 0; r < kMr; ++r) {
      const __m512 ar = _mm512_set1_ps(a[r]);
      acc[r][0] = _mm512_fmadd_ps(ar, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(ar, b1, acc[r][1]);
    }
    a += kMr;
    b += kNr;
  }
  const __mmask16 m0 = lane_mask(n), m1 = lane_mask(n - 16);
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 8
  for (int r = 0; r < kMr; ++r) {
    if (r >= m) break;
    float* cr = c + r * ldc;
    __m512 v0 = _mm512_mul_ps(va, acc[r][0]), v1 = _mm512_mul_ps(va, acc[r][1]);
    if (beta != 0.0f) {
      v0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, cr), v0);
      v1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, cr + 16), v1);
    }
    _mm512_mask_storeu_ps(cr, m0, v0);
    _mm512_mask_storeu_ps(cr + 16, m1, v1);
  }
}

// The indexed packers gather 8 floats per instruction (vgatherqps, 64-bit offsets): one
// instruction where the portable loop needs 8 loads, 8 index loads and 8 stores.
__mmask8 lane_mask8(int64_t n) { return n >= 8 ? __mmask8(0xff) : n <= 0 ? __mmask8(0) : __mmask8((1u << n) - 1); }

void pack_b_indexed_32(const float* src, const int64_t* row, const int64_t* col, int64_t k0, int64_t kc, int64_t j0,
                       int64_t nc, float* dst) {
  for (int64_t j = 0; j < nc; j += kNr, dst += kc * kNr) {
    __mmask8 m[4];
    __m512i idx[4];  // the panel's 32 column offsets, 8 per register
    for (int q = 0; q < 4; ++q) {
      m[q] = lane_mask8(nc - j - 8 * q);
      idx[q] = _mm512_maskz_loadu_epi64(m[q], col + j0 + j + 8 * q);
    }
    for (int64_t k = 0; k < kc; ++k) {
      const __m512i base = _mm512_set1_epi64(row[k0 + k]);
      float* out = dst + k * kNr;  // out: (NR), 64-byte aligned (the panel buffer is)
      for (int q = 0; q < 4; ++q)
        _mm256_store_ps(out + 8 * q,
                        _mm512_mask_i64gather_ps(_mm256_setzero_ps(), m[q], _mm512_add_epi64(idx[q], base), src, 4));
    }
  }
}

void pack_a_indexed_8(const float* src, const int64_t* row, const int64_t* col, int64_t i0, int m, int64_t K,
                      float* dst) {
  const __mmask8 rows = lane_mask8(m);
  const __m512i idx = _mm512_maskz_loadu_epi64(rows, row + i0);  // the panel's MR row offsets
  for (int64_t k = 0; k < K; ++k)
    _mm256_storeu_ps(dst + k * kMr, _mm512_mask_i64gather_ps(_mm256_setzero_ps(), rows,
                                                             _mm512_add_epi64(idx, _mm512_set1_epi64(col[k])), src, 4));
}

}  // namespace

const MicroKernel kAvx512Kernel{Isa::Avx512, kMr, kNr, kernel_8x32, pack_b_indexed_32, pack_a_indexed_8};

}  // namespace lb::cpu::detail
