// conv2d_tiles.cuh: the tile shape and index helpers of lightbox's implicit-GEMM conv kernels
// (private to kernels/conv2d.cu, through conv2d_impl.cuh). What the kernels do, and why, is
// described at the top of conv2d_impl.cuh; the "problems" that use these helpers are in
// conv2d_problems.cuh.
//
#pragma once

#include <cstdint>

#ifndef LB_CONV2D_EMULATE
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <mma.h>
#endif

namespace lb::kernels::conv_impl {

constexpr int kBM = 64, kBN = 64, kBK = 16, kThreads = 256;
constexpr int kPer = kBM * kBK / kThreads;    // elements of the A (and of the B) tile each thread loads
constexpr int kLd = kBM + 4;                  // tile row length in shared memory: float4- and wmma-aligned
constexpr int kTileFloats = kBK * kLd;        // one (16, 68) tile
constexpr int kSmemFloats = 4 * kTileFloats;  // A[2], B[2]; reused for the C tile (64 x 65 or 64 x 68)
constexpr int kMaxTapDim = 32;                // R and S at most this (checked on the host)
static_assert(kBM == kBN && kPer == 4 && kThreads % kBM == 0 && kThreads % kBK == 0, "tile shape");
// MathMode::Bf16 stages the same tiles as bfloat16: row length 72 elements (144 bytes, a multiple of
// wmma's 16-byte ldm rule), so every fragment pointer (multiples of 16 elements from a tile start,
// tiles 2304 bytes apart) is 32-byte aligned. Four bf16 tiles fit in the fp32 tiles' shared memory.
constexpr int kLdH = kBM + 8;
constexpr int kTileHalfs = kBK * kLdH;
static_assert(kLdH % 8 == 0 && (kTileHalfs * 2) % 32 == 0 && 4 * kTileHalfs * 2 <= kSmemFloats * 4, "bf16 tiles");

// n / d for 0 <= n < 2^31 as a multiply-high and a shift (Hacker's Delight 10-9, PyTorch's
// IntDivider): mul = floor(2^32 (2^shift - d) / d) + 1 with 2^shift >= d.
struct FastDiv {
  uint32_t mul, shift;
};

inline FastDiv make_fastdiv(uint32_t d) {
  if (d == 0) d = 1;  // an unused divisor (an empty reduction); keeps the formula defined
  uint32_t shift = 0;
  while (shift < 32 && (uint64_t(1) << shift) < d) ++shift;
  const uint64_t mul = ((uint64_t(1) << 32) * ((uint64_t(1) << shift) - d)) / d + 1;
  return FastDiv{static_cast<uint32_t>(mul), shift};
}

__device__ __forceinline__ int fdiv(const FastDiv& f, int n) {
  const uint32_t u = static_cast<uint32_t>(n);
  return static_cast<int>((__umulhi(u, f.mul) + u) >> f.shift);
}

// The live filter rows r[0..nr) and columns s[0..ns), ascending; T = nr * ns live taps.
struct Taps {
  int nr, ns;
  int r[kMaxTapDim], s[kMaxTapDim];
};

// The skeleton stages a problem's small index tables (`Prob::Table`) in shared memory once per
// block; for the tap lists that is Taps' r and s.
struct TapTable {
  int r[kMaxTapDim], s[kMaxTapDim];
};

__device__ __forceinline__ void stage_taps(const Taps& taps, TapTable& t) {
#pragma unroll  // constant indices: the parameter arrays stay in the constant bank
  for (int i = 0; i < kMaxTapDim; ++i) t.r[i] = taps.r[i], t.s[i] = taps.s[i];
}

// Split-K: block z reduces [z*chunk, (z+1)*chunk) clipped to [0, red).
__device__ __forceinline__ void splitk_slice(int red, int z, int chunk, int& kbeg, int& kend) {
  const int64_t b = static_cast<int64_t>(z) * chunk;
  kbeg = static_cast<int>(b < red ? b : red);
  kend = static_cast<int>(b + chunk < red ? b + chunk : red);
}

// Shape letters as in kernels/shapes.h, plus the derived extents and their divisors.
struct ConvDims {
  int N, C, H, W, K, R, S, stride, pad, P, Q;
  int T, ns, HW, PQ, RS;
  FastDiv dT, dns, dPQ, dQ, dHW, dW, dstride;
};

// A reduction index kr = c*T + t (or k*T + t) split into the channel and the tap (r, s).
struct Tap {
  int ch, r, s;
};

__device__ __forceinline__ Tap split_tap(const ConvDims& d, const int* sr, const int* ss, int kr) {
  const int ch = fdiv(d.dT, kr);
  const int t = kr - ch * d.T;
  const int ir = fdiv(d.dns, t);
  const int is = t - ir * d.ns;
  return Tap{ch, sr[ir], ss[is]};
}

// Thread `tid`'s share of a 64 x 16 operand tile, element i (0..3), in the two layouts:
// row-fast: row tid % 64, reduction tid / 64 + 4 i  (a warp reads 32 consecutive rows)
// red-fast: reduction tid % 16, row tid / 16 + 16 i (a warp reads 16 consecutive reductions)
__device__ __forceinline__ int rowfast_row(int tid) { return tid % kBM; }
__device__ __forceinline__ int rowfast_red(int tid, int i) { return tid / kBM + (kThreads / kBM) * i; }
__device__ __forceinline__ int redfast_red(int tid) { return tid % kBK; }
__device__ __forceinline__ int redfast_row(int tid, int i) { return tid / kBK + (kThreads / kBK) * i; }

}  // namespace lb::kernels::conv_impl
