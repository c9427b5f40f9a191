// conv2d_impl.cuh: the device side of kernels/conv2d.cu (private to it): one tiled implicit-GEMM
// kernel and the three "problems" that feed it (forward, backward_input, backward_weight).
//
// Every direction of a convolution is a GEMM C (M, Ncols) = A (M, red) x B (red, Ncols) whose
// operands are never materialised: each problem gathers its A and B tiles straight from x, w or
// dy with im2col index math (zero where a tap reads the padding), and writes each finished C
// element to its place in y, dx or dw. One kernel skeleton does the tiling for all three:
//
//   block tile 64 (M) x 64 (Ncols) x 16 (red), 256 threads, shared memory double-buffered
//   (next tile's global loads are in registers while the current tile is multiplied);
//   fp32: each thread a 4x4 register micro-tile fed by float4 shared-memory reads;
//   tf32: 8 warps, each a 16x32 strip of wmma m16n16k8 tf32 fragments (fp32 accumulate).
//
// Only live filter taps enter the reduction (see engine/cpu/conv2d.cc: a tap that reads the
// padding for every output position adds nothing and gets no gradient). Live rows r and columns
// s are listed in `Taps`; reduction index c*T + t with t = ir*ns + is names tap (r[ir], s[is]).
// With every tap live this is the plain C*R*S reduction; on the 1x1 maps of layer4 at 28x28 it
// leaves one tap, and the conv becomes a plain GEMM on the strided weight view w[k, c, r0, s0].
//
// Index math is 32-bit (the host checks every GEMM extent is below 2^30); memory offsets are
// int64. Divisions by shape extents use precomputed magic numbers (FastDiv).
//
// The file also compiles as host C++ (LB_CONV2D_EMULATE) so a CPU harness can run the kernels
// thread by thread against a naive loop.
#pragma once

#include <cstdint>

#ifndef LB_CONV2D_EMULATE
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

// ---------------------------------------------------------------------------------------------
// forward: M = N*P*Q output pixels, Ncols = K, red = C*T.
// A[m, kr] = x[n, c, p*stride - pad + r, q*stride - pad + s] (row-fast: consecutive q)
// B[kr, k] = w[k, c, r, s]                                    (red-fast: consecutive taps)
struct FwdProblem {
  static constexpr bool kARowFast = true, kBRowFast = false, kStoreRowFast = true;
  const float* x;     // (N, C, H, W)
  const float* w;     // (K, C, R, S)
  const float* bias;  // (K) or null
  float* y;           // (N, K, P, Q)
  ConvDims d;
  Taps taps;
  int M, Ncols, red;

  using Table = TapTable;
  __device__ __forceinline__ void stage(Table& t) const { stage_taps(taps, t); }
  __device__ __forceinline__ void slice(const Table&, int z, int chunk, int& kbeg, int& kend) const {
    splitk_slice(red, z, chunk, kbeg, kend);
  }

  struct State {
    const int *sr, *ss;
    int tid, n0, h0, w0;
    bool mvalid;
    int64_t xbase;
  };

  __device__ __forceinline__ void init(State& st, const Table& tab, int m0, int n0, int tid, int) const {
    st.sr = tab.r, st.ss = tab.s, st.tid = tid, st.n0 = n0;
    const int m = m0 + rowfast_row(tid);
    st.mvalid = m < M;
    const int mm = st.mvalid ? m : 0;
    const int img = fdiv(d.dPQ, mm), pq = mm - img * d.PQ;
    const int p = fdiv(d.dQ, pq), q = pq - p * d.Q;
    st.xbase = static_cast<int64_t>(img) * d.C * d.HW;
    st.h0 = p * d.stride - d.pad;
    st.w0 = q * d.stride - d.pad;
  }

  __device__ __forceinline__ void load(const State& st, int k0, int kend, float (&ra)[kPer], float (&rb)[kPer]) const {
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int kr = k0 + rowfast_red(st.tid, i);
      float v = 0.f;
      if (st.mvalid && kr < kend) {
        const Tap tp = split_tap(d, st.sr, st.ss, kr);
        const int h = st.h0 + tp.r, wc = st.w0 + tp.s;
        if (static_cast<unsigned>(h) < static_cast<unsigned>(d.H) &&
            static_cast<unsigned>(wc) < static_cast<unsigned>(d.W))
          v = x[st.xbase + (static_cast<int64_t>(tp.ch) * d.H + h) * d.W + wc];
      }
      ra[i] = v;
    }
    const int kr = k0 + redfast_red(st.tid);
    const bool kvalid = kr < kend;
    int64_t woff = 0;  // offset of w[0, c, r, s]
    if (kvalid) {
      const Tap tp = split_tap(d, st.sr, st.ss, kr);
      woff = static_cast<int64_t>(tp.ch) * d.RS + tp.r * d.S + tp.s;
    }
    const int64_t crs = static_cast<int64_t>(d.C) * d.RS;
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int k = st.n0 + redfast_row(st.tid, i);
      rb[i] = kvalid && k < Ncols ? w[k * crs + woff] : 0.f;
    }
  }

  __device__ __forceinline__ void store(int m, int k, float v, int) const {
    const int img = fdiv(d.dPQ, m), pq = m - img * d.PQ;
    y[(static_cast<int64_t>(img) * d.K + k) * d.PQ + pq] = v + (bias ? bias[k] : 0.f);
  }
};

// ---------------------------------------------------------------------------------------------
// backward_input: M = N*H*W input pixels, Ncols = C, red = K*T.
// A[m, kr] = dy[n, k, p, q] where h + pad - r = p*stride, w + pad - s = q*stride, in range
// B[kr, c] = w[k, c, r, s]
struct BwdInputProblem {
  static constexpr bool kARowFast = true, kBRowFast = false, kStoreRowFast = true;
  const float* dy;  // (N, K, P, Q)
  const float* w;   // (K, C, R, S)
  float* dx;        // (N, C, H, W)
  ConvDims d;
  Taps taps;
  int M, Ncols, red;

  using Table = TapTable;
  __device__ __forceinline__ void stage(Table& t) const { stage_taps(taps, t); }
  __device__ __forceinline__ void slice(const Table&, int z, int chunk, int& kbeg, int& kend) const {
    splitk_slice(red, z, chunk, kbeg, kend);
  }

  struct State {
    const int *sr, *ss;
    int tid, n0, hp, wp;
    bool mvalid;
    int64_t dybase;
  };

  __device__ __forceinline__ void init(State& st, const Table& tab, int m0, int n0, int tid, int) const {
    st.sr = tab.r, st.ss = tab.s, st.tid = tid, st.n0 = n0;
    const int m = m0 + rowfast_row(tid);
    st.mvalid = m < M;
    const int mm = st.mvalid ? m : 0;
    const int img = fdiv(d.dHW, mm), hw = mm - img * d.HW;
    const int h = fdiv(d.dW, hw), wc = hw - h * d.W;
    st.dybase = static_cast<int64_t>(img) * d.K * d.PQ;
    st.hp = h + d.pad;
    st.wp = wc + d.pad;
  }

  __device__ __forceinline__ void load(const State& st, int k0, int kend, float (&ra)[kPer], float (&rb)[kPer]) const {
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int kr = k0 + rowfast_red(st.tid, i);
      float v = 0.f;
      if (st.mvalid && kr < kend) {
        const Tap tp = split_tap(d, st.sr, st.ss, kr);   // tp.ch is the output channel k
        const int hh = st.hp - tp.r, ww = st.wp - tp.s;  // = p*stride, q*stride if this tap hits
        if (hh >= 0 && ww >= 0) {                        // test the sign before dividing
          const int p = fdiv(d.dstride, hh), q = fdiv(d.dstride, ww);
          if (p * d.stride == hh && q * d.stride == ww && p < d.P && q < d.Q)
            v = dy[st.dybase + (static_cast<int64_t>(tp.ch) * d.P + p) * d.Q + q];
        }
      }
      ra[i] = v;
    }
    const int kr = k0 + redfast_red(st.tid);
    const bool kvalid = kr < kend;
    int64_t woff = 0;  // offset of w[k, 0, r, s]
    if (kvalid) {
      const Tap tp = split_tap(d, st.sr, st.ss, kr);
      woff = static_cast<int64_t>(tp.ch) * d.C * d.RS + tp.r * d.S + tp.s;
    }
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int c = st.n0 + redfast_row(st.tid, i);
      rb[i] = kvalid && c < Ncols ? w[woff + static_cast<int64_t>(c) * d.RS] : 0.f;
    }
  }

  __device__ __forceinline__ void store(int m, int c, float v, int) const {
    const int img = fdiv(d.dHW, m), hw = m - img * d.HW;
    dx[(static_cast<int64_t>(img) * d.C + c) * d.HW + hw] = v;
  }
};

// ---------------------------------------------------------------------------------------------
// backward_input by stride phase (strides 1..kMaxPhase). dx splits into stride^2 classes by
// (h mod stride, w mod stride) = (ph, pw); in class (ph, pw) only the taps r = ph + pad (mod stride),
// s = pw + pad (mod stride) reach dy, and they reach it without holes:
//   dx[n, c, ph + stride*i, pw + stride*j] = sum over k and the class's taps of
//       dy[n, k, i + (ph + pad - r) / stride, j + (pw + pad - s) / stride] * w[k, c, r, s]
// (exact divisions). Each class is a GEMM over its own rows, M = N*Hc*Wc (Hc = ceil(H/stride),
// Wc = ceil(W/stride); rows past H or W are skipped), Ncols = C, red = K*Tc, and blockIdx.z is the
// class, so a stride-2 conv does 1/4 of the multiply-adds of the plain gather. Within a class the
// live taps (see Taps) are consecutive: row tap ir (0 <= ir < nr) is r = first + stride*ir and reads
// dy row i + off - ir; likewise for columns. A class without taps writes zeros (every dx element
// is written exactly once). At stride 1 there is one class and this is the plain gather without
// the per-element stride divisions.
constexpr int kMaxPhase = 4;

// Per axis and phase a: the first live tap of the class, its dy offset (a + pad - first) / stride,
// and the number of live taps.
struct PhaseAxis {
  int first[kMaxPhase], off[kMaxPhase], n[kMaxPhase];
};

struct Phases {
  PhaseAxis rows, cols;
  int T[kMaxPhase * kMaxPhase];          // taps of class z = ph*stride + pw: rows.n[ph] * cols.n[pw]
  FastDiv dT[kMaxPhase * kMaxPhase];
  FastDiv dns[kMaxPhase];                // cols.n[pw]
};

struct BwdInputPhaseProblem {
  static constexpr bool kARowFast = true, kBRowFast = false, kStoreRowFast = true;
  const float* dy;  // (N, K, P, Q)
  const float* w;   // (K, C, R, S)
  float* dx;        // (N, C, H, W)
  ConvDims d;
  Phases ph;
  int Hc, Wc, HWc;  // class rows and columns, Hc*Wc
  FastDiv dHWc, dWc;
  int M, Ncols;     // N*Hc*Wc, C

  using Table = Phases;
  __device__ __forceinline__ void stage(Table& t) const { t = ph; }
  __device__ __forceinline__ void slice(const Table& t, int z, int, int& kbeg, int& kend) const {
    kbeg = 0;
    kend = d.K * t.T[z];
  }

  struct State {
    int tid, n0, T, ns, pi, qj, wbase;  // pi = i + rows.off, qj = j + cols.off; wbase = first_r*S + first_s
    FastDiv dT, dns;
    bool mvalid;
    int64_t dybase;
  };

  __device__ __forceinline__ void init(State& st, const Table& tab, int m0, int n0, int tid, int z) const {
    st.tid = tid, st.n0 = n0;
    const int a = fdiv(d.dstride, z), b = z - a * d.stride;  // class (a, b) = (ph, pw)
    st.T = tab.T[z], st.dT = tab.dT[z], st.ns = tab.cols.n[b], st.dns = tab.dns[b];
    st.wbase = tab.rows.first[a] * d.S + tab.cols.first[b];
    const int m = m0 + rowfast_row(tid);
    const int mm = m < M ? m : 0;
    const int img = fdiv(dHWc, mm), ij = mm - img * HWc;
    const int i = fdiv(dWc, ij), j = ij - i * Wc;
    st.mvalid = m < M && a + d.stride * i < d.H && b + d.stride * j < d.W;
    st.dybase = static_cast<int64_t>(img) * d.K * d.PQ;
    st.pi = i + tab.rows.off[a];
    st.qj = j + tab.cols.off[b];
  }

  __device__ __forceinline__ void load(const State& st, int k0, int kend, float (&ra)[kPer], float (&rb)[kPer]) const {
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int kr = k0 + rowfast_red(st.tid, i);
      float v = 0.f;
      if (st.mvalid && kr < kend) {
        const int k = fdiv(st.dT, kr), t = kr - k * st.T;
        const int ir = fdiv(st.dns, t), is = t - ir * st.ns;
        const int p = st.pi - ir, q = st.qj - is;
        if (static_cast<unsigned>(p) < static_cast<unsigned>(d.P) && static_cast<unsigned>(q) < static_cast<unsigned>(d.Q))
          v = dy[st.dybase + (static_cast<int64_t>(k) * d.P + p) * d.Q + q];
      }
      ra[i] = v;
    }
    const int kr = k0 + redfast_red(st.tid);
    const bool kvalid = kr < kend;
    int64_t woff = 0;  // offset of w[k, 0, r, s]
    if (kvalid) {
      const int k = fdiv(st.dT, kr), t = kr - k * st.T;
      const int ir = fdiv(st.dns, t), is = t - ir * st.ns;
      woff = static_cast<int64_t>(k) * d.C * d.RS + st.wbase + d.stride * (ir * d.S + is);
    }
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int c = st.n0 + redfast_row(st.tid, i);
      rb[i] = kvalid && c < Ncols ? w[woff + static_cast<int64_t>(c) * d.RS] : 0.f;
    }
  }

  __device__ __forceinline__ void store(int m, int c, float v, int z) const {
    const int a = fdiv(d.dstride, z), b = z - a * d.stride;
    const int img = fdiv(dHWc, m), ij = m - img * HWc;
    const int i = fdiv(dWc, ij), j = ij - i * Wc;
    const int h = a + d.stride * i, wc = b + d.stride * j;
    if (h < d.H && wc < d.W) dx[(static_cast<int64_t>(img) * d.C + c) * d.HW + h * d.W + wc] = v;
  }
};

// ---------------------------------------------------------------------------------------------
// backward_weight: M = K, Ncols = C*T (live taps only), red = N*P*Q.
// A[k, j] = dy[n, k, p, q]                                     (red-fast: consecutive q)
// B[j, ct] = x[n, c, p*stride - pad + r, q*stride - pad + s]   (red-fast: consecutive q)
// out (splits, K, C*T): split z's partial sums in the compact tap layout.
struct BwdWeightProblem {
  static constexpr bool kARowFast = false, kBRowFast = false, kStoreRowFast = false;
  const float* x;   // (N, C, H, W)
  const float* dy;  // (N, K, P, Q)
  float* out;       // (splits, K, C*T)
  ConvDims d;
  Taps taps;
  int M, Ncols, red;

  using Table = TapTable;
  __device__ __forceinline__ void stage(Table& t) const { stage_taps(taps, t); }
  __device__ __forceinline__ void slice(const Table&, int z, int chunk, int& kbeg, int& kend) const {
    splitk_slice(red, z, chunk, kbeg, kend);
  }

  struct State {
    int tid, m0;
    int coff[kPer], r[kPer], s[kPer];  // column (c, r - pad, s - pad) of this thread's 4 B columns
    bool nvalid[kPer];
  };

  __device__ __forceinline__ void init(State& st, const Table& tab, int m0, int n0, int tid, int) const {
    const int *sr = tab.r, *ss = tab.s;
    st.tid = tid, st.m0 = m0;
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int n = n0 + redfast_row(tid, i);
      st.nvalid[i] = n < Ncols;
      const Tap tp = split_tap(d, sr, ss, st.nvalid[i] ? n : 0);
      st.coff[i] = tp.ch * d.HW;  // < C*H*W < 2^30 (checked on the host)
      st.r[i] = tp.r - d.pad;
      st.s[i] = tp.s - d.pad;
    }
  }

  __device__ __forceinline__ void load(const State& st, int k0, int kend, float (&ra)[kPer], float (&rb)[kPer]) const {
    const int j = k0 + redfast_red(st.tid);
    const bool jvalid = j < kend;
    const int img = fdiv(d.dPQ, j), pq = j - img * d.PQ;
    const int p = fdiv(d.dQ, pq), q = pq - p * d.Q;
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int k = st.m0 + redfast_row(st.tid, i);
      ra[i] = jvalid && k < M ? dy[(static_cast<int64_t>(img) * d.K + k) * d.PQ + pq] : 0.f;
    }
    const int64_t xbase = static_cast<int64_t>(img) * d.C * d.HW;
    const int hb = p * d.stride, wb = q * d.stride;
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int h = hb + st.r[i], wc = wb + st.s[i];
      const bool in = static_cast<unsigned>(h) < static_cast<unsigned>(d.H) &&
                      static_cast<unsigned>(wc) < static_cast<unsigned>(d.W);
      rb[i] = jvalid && st.nvalid[i] && in ? x[xbase + st.coff[i] + h * d.W + wc] : 0.f;
    }
  }

  __device__ __forceinline__ void store(int k, int n, float v, int z) const {
    out[(static_cast<int64_t>(z) * M + k) * Ncols + n] = v;
  }
};

// ---------------------------------------------------------------------------------------------
// The skeleton. Shared memory: A tiles As[buf] (16, 68) holding A[m0 + col, k0 + row], B tiles
// Bs[buf] (16, 68) holding B[k0 + row, n0 + col]; after the loop the C tile Cs[n][m].

template <class Prob> __device__ __forceinline__ void stash_tiles(float* smem, int buf, int tid,
                                                                  const float (&ra)[kPer], const float (&rb)[kPer]) {
  float* As = smem + buf * kTileFloats;
  float* Bs = smem + (2 + buf) * kTileFloats;
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    if (Prob::kARowFast)
      As[rowfast_red(tid, i) * kLd + rowfast_row(tid)] = ra[i];
    else
      As[redfast_red(tid) * kLd + redfast_row(tid, i)] = ra[i];
    if (Prob::kBRowFast)
      Bs[rowfast_red(tid, i) * kLd + rowfast_row(tid)] = rb[i];
    else
      Bs[redfast_red(tid) * kLd + redfast_row(tid, i)] = rb[i];
  }
}

// fp32 micro-kernel: thread (tx = tid % 16, ty = tid / 16) owns C rows ty*4 + i, columns tx*4 + j.
__device__ __forceinline__ void mma_fp32(const float* smem, int buf, int tid, float (&acc)[4][4]) {
  const float* As = smem + buf * kTileFloats + (tid / 16) * 4;
  const float* Bs = smem + (2 + buf) * kTileFloats + (tid % 16) * 4;
#pragma unroll
  for (int kk = 0; kk < kBK; ++kk) {
    const float4 a = *reinterpret_cast<const float4*>(As + kk * kLd);
    const float4 b = *reinterpret_cast<const float4*>(Bs + kk * kLd);
    const float av[4] = {a.x, a.y, a.z, a.w}, bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
  }
}

// Writes the finished C tile (in smem as Cs[n][m], row length ld) to global memory. Row-fast
// problems store along m (consecutive pixels), the weight gradient along n (consecutive taps).
template <class Prob>
__device__ __forceinline__ void store_tile(const Prob& prob, const float* Cs, int ld, int m0, int n0, int tid) {
#pragma unroll 4
  for (int e = 0; e < kBM * kBN / kThreads; ++e) {
    const int idx = tid + kThreads * e;
    const int ml = Prob::kStoreRowFast ? idx % kBM : idx / kBN;
    const int nl = Prob::kStoreRowFast ? idx / kBM : idx % kBN;
    const int m = m0 + ml, n = n0 + nl;
    if (m < prob.M && n < prob.Ncols) prob.store(m, n, Cs[nl * ld + ml], blockIdx.z);
  }
}

#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
#define LB_CONV2D_HAS_TF32 1
namespace wmma = nvcuda::wmma;
using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::col_major>;
using FragB = wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major>;
using FragC = wmma::fragment<wmma::accumulator, 16, 16, 8, float>;

// tf32 micro-kernel: warp wp owns C rows (wp % 4)*16 + [0, 16), columns (wp / 4)*32 + [0, 32).
// As[k][m] is A column-major, Bs[k][n] is B row-major, both with ld = 68; every fragment pointer
// is a multiple of 8 floats (32 bytes) from the 128-byte aligned smem base.
__device__ __forceinline__ void mma_tf32(const float* smem, int buf, int tid, FragC (&acc)[2]) {
  const int wp = tid / 32, wm = (wp % 4) * 16, wn = (wp / 4) * 32;
  const float* As = smem + buf * kTileFloats + wm;
  const float* Bs = smem + (2 + buf) * kTileFloats + wn;
#pragma unroll
  for (int ks = 0; ks < kBK; ks += 8) {
    FragA a;
    wmma::load_matrix_sync(a, As + ks * kLd, kLd);
#pragma unroll
    for (int e = 0; e < a.num_elements; ++e) a.x[e] = wmma::__float_to_tf32(a.x[e]);
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      FragB b;
      wmma::load_matrix_sync(b, Bs + ks * kLd + 16 * j, kLd);
#pragma unroll
      for (int e = 0; e < b.num_elements; ++e) b.x[e] = wmma::__float_to_tf32(b.x[e]);
      wmma::mma_sync(acc[j], a, b, acc[j]);
    }
  }
}
#endif

template <class Prob, bool kTf32> __global__ void __launch_bounds__(kThreads)
    conv2d_igemm_kernel1(Prob prob, int chunk) {
  __shared__ __align__(128) float smem[kSmemFloats];
  __shared__ typename Prob::Table tab;
  const int tid = threadIdx.x;
  if (tid == 0) prob.stage(tab);  // constant indices: the parameter arrays stay in the constant bank
  __syncthreads();
  const int m0 = blockIdx.x * kBM, n0 = blockIdx.y * kBN;
  // This block's slice [kbeg, kend) of the reduction (split-K along gridDim.z, or the phase class).
  int kbeg, kend;
  prob.slice(tab, blockIdx.z, chunk, kbeg, kend);
  const int ntiles = (kend - kbeg + kBK - 1) / kBK;

  typename Prob::State st;
  prob.init(st, tab, m0, n0, tid, blockIdx.z);
  float ra[kPer], rb[kPer];
#if defined(LB_CONV2D_HAS_TF32)
  FragC cfrag[2];
#endif
  float acc[4][4] = {};
  if constexpr (kTf32) {
#if defined(LB_CONV2D_HAS_TF32)
    wmma::fill_fragment(cfrag[0], 0.f);
    wmma::fill_fragment(cfrag[1], 0.f);
#else
    __trap();  // tf32 tensor cores need sm_80; the host dispatches only there
#endif
  }
  if (ntiles > 0) {
    prob.load(st, kbeg, kend, ra, rb);
    stash_tiles<Prob>(smem, 0, tid, ra, rb);
  }
  __syncthreads();
  for (int t = 0; t < ntiles; ++t) {
    const int buf = t & 1;
    const bool more = t + 1 < ntiles;
    if (more) prob.load(st, kbeg + (t + 1) * kBK, kend, ra, rb);  // in flight during the math
    if constexpr (kTf32) {
#if defined(LB_CONV2D_HAS_TF32)
      mma_tf32(smem, buf, tid, cfrag);
#endif
    } else {
      mma_fp32(smem, buf, tid, acc);
    }
    if (more) stash_tiles<Prob>(smem, buf ^ 1, tid, ra, rb);  // buf ^ 1 was last read before the previous barrier
    __syncthreads();
  }

  // The loop ended on a barrier: the tiles are free for the C tile Cs[n][m].
  int ld = kBM + 1;  // odd row length: both store orders read Cs without bank conflicts
  if constexpr (kTf32) {
#if defined(LB_CONV2D_HAS_TF32)
    ld = kLd;  // wmma needs a multiple of 4
    const int wp = tid / 32, wm = (wp % 4) * 16, wn = (wp / 4) * 32;
    wmma::store_matrix_sync(smem + wn * kLd + wm, cfrag[0], kLd, wmma::mem_col_major);
    wmma::store_matrix_sync(smem + (wn + 16) * kLd + wm, cfrag[1], kLd, wmma::mem_col_major);
#endif
  } else {
    const int tx = tid % 16, ty = tid / 16;
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) smem[(tx * 4 + j) * ld + ty * 4 + i] = acc[i][j];
  }
  __syncthreads();
  store_tile(prob, smem, ld, m0, n0, tid);
}

// ---------------------------------------------------------------------------------------------
// backward_input for few input channels (C <= kDirectMaxC: the stem, C = 1 or 3), fp32 in both math
// modes (no tensor cores). The GEMMs above would use C of their 64 tile columns. Here dx is split
// into the same stride classes (ph, pw) as BwdInputPhaseProblem; a thread owns kDirU consecutive
// class rows i0 .. i0 + kDirU - 1 at one class column j of one class of one (n, c) plane and loops
// over k and the class's taps only (r = r0 + stride*ir reads dy row i + offr - ir, likewise for
// columns; taps that read outside dy, dead ones included, are bounds-checked to zero). A warp is 32
// consecutive j of one class row group, so every dy read is one coalesced 128-byte line, and the
// kDirU + kDirE - 1 dy values of a column tap serve kDirE row taps x kDirU rows from registers.
// Block: 256 threads = 32 columns x 8 row groups (64 class rows); grid (ceil(Wc/32),
// stride^2 * rowblocks, N*C). w[:, c, :, :] (K*R*S floats, <= kDirectMaxWeights) sits in dynamic
// shared memory. Every dx element is written once, by the thread that owns it.
constexpr int kDirectMaxC = 8;
constexpr int kDirU = 8;                     // class rows per thread
constexpr int kDirE = 4;                     // row taps per register window
constexpr int kDirRows = kThreads / 32 * kDirU;  // class rows per block
constexpr int kDirectMaxWeights = 12288;     // 48 KB: the default dynamic shared memory limit

__global__ void __launch_bounds__(kThreads)
    conv2d_backward_input_direct_kernel1(const float* dy, const float* w, float* dx, ConvDims d, int Hc, int rowblocks) {
#ifdef LB_CONV2D_EMULATE
  static float sw[kDirectMaxWeights];
#else
  extern __shared__ float sw[];
#endif
  const int tid = threadIdx.x;
  const int n = static_cast<int>(blockIdx.z) / d.C, c = static_cast<int>(blockIdx.z) - n * d.C;
  const int cls = static_cast<int>(blockIdx.y) / rowblocks, rb = static_cast<int>(blockIdx.y) - cls * rowblocks;
  const int krs = d.K * d.RS;
  for (int e = tid; e < krs; e += kThreads) {
    const int k = e / d.RS;
    sw[e] = w[(static_cast<int64_t>(k) * d.C + c) * d.RS + (e - k * d.RS)];
  }
  __syncthreads();

  const int st = d.stride;
  const int a = cls / st, b = cls - a * st;  // class (ph, pw)
  const int r0 = (a + d.pad) % st, s0 = (b + d.pad) % st;
  const int nr = r0 < d.R ? (d.R - 1 - r0) / st + 1 : 0, ns = s0 < d.S ? (d.S - 1 - s0) / st + 1 : 0;
  const int offr = (a + d.pad - r0) / st, offc = (b + d.pad - s0) / st;  // exact: both are >= 0 multiples
  const int j = static_cast<int>(blockIdx.x) * 32 + tid % 32;
  const int i0 = rb * kDirRows + (tid / 32) * kDirU;
  const int wc = b + st * j;
  const bool jvalid = wc < d.W;
  float acc[kDirU];
#pragma unroll
  for (int u = 0; u < kDirU; ++u) acc[u] = 0.f;
  if (jvalid && i0 < Hc) {
    const float* dyn = dy + static_cast<int64_t>(n) * d.K * d.PQ;
    for (int k = 0; k < d.K; ++k) {
      const float* dyk = dyn + static_cast<int64_t>(k) * d.PQ;
      const float* wk = sw + k * d.RS;
      for (int is = 0; is < ns; ++is) {
        const int q = j + offc - is;
        if (static_cast<unsigned>(q) >= static_cast<unsigned>(d.Q)) continue;
        const float* wks = wk + s0 + st * is + r0 * d.S;  // + st*ir*S for row tap ir
        for (int ir0 = 0; ir0 < nr; ir0 += kDirE) {
          const int ne = nr - ir0 < kDirE ? nr - ir0 : kDirE;
          const int pbase = i0 + offr - ir0 - (kDirE - 1);  // row tap ir0 + e, class row i0 + u: window x = u + kDirE-1-e
          float win[kDirU + kDirE - 1];
#pragma unroll
          for (int x = 0; x < kDirU + kDirE - 1; ++x) {
            const int p = pbase + x;
            win[x] = x >= kDirE - ne && static_cast<unsigned>(p) < static_cast<unsigned>(d.P) ? dyk[p * d.Q + q] : 0.f;
          }
#pragma unroll
          for (int e = 0; e < kDirE; ++e) {
            if (e < ne) {
              const float wv = wks[st * (ir0 + e) * d.S];
#pragma unroll
              for (int u = 0; u < kDirU; ++u) acc[u] = fmaf(wv, win[u + kDirE - 1 - e], acc[u]);
            }
          }
        }
      }
    }
  }
  if (!jvalid) return;
  float* dxp = dx + (static_cast<int64_t>(n) * d.C + c) * d.HW + wc;
#pragma unroll
  for (int u = 0; u < kDirU; ++u) {
    const int h = a + st * (i0 + u);
    if (h < d.H) dxp[static_cast<int64_t>(h) * d.W] = acc[u];
  }
}

// dw (K, C, R, S) at the live taps = sum over splits, in split order, of ws (splits, K, C*T).
// The dead taps of dw were zeroed by the caller.
__global__ void __launch_bounds__(kThreads)
    conv2d_backward_weight_reduce_kernel1(const float* ws, int splits, ConvDims d, Taps taps, float* dw) {
  __shared__ int sr[kMaxTapDim], ss[kMaxTapDim];
  if (threadIdx.x == 0) {
#pragma unroll
    for (int i = 0; i < kMaxTapDim; ++i) sr[i] = taps.r[i], ss[i] = taps.s[i];
  }
  __syncthreads();
  const int ct = d.C * d.T;
  const int64_t kct = static_cast<int64_t>(d.K) * ct;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < kct;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float acc = 0.f;
    for (int z = 0; z < splits; ++z) acc += ws[z * kct + idx];
    const int k = static_cast<int>(idx / ct), n = static_cast<int>(idx - static_cast<int64_t>(k) * ct);
    const Tap tp = split_tap(d, sr, ss, n);
    dw[(static_cast<int64_t>(k) * d.C + tp.ch) * d.RS + tp.r * d.S + tp.s] = acc;
  }
}

// db[k] = sum over n, p, q of dy[n, k, p, q]: one block per k, a fixed per-thread order, then a
// fixed shuffle tree, so the result is the same bits on every run.
__global__ void __launch_bounds__(kThreads)
    conv2d_backward_bias_kernel1(const float* dy, int K, int PQ, int total, FastDiv dPQ, float* db) {
  __shared__ float warp_sums[kThreads / 32];
  const int k = blockIdx.x, tid = threadIdx.x;
  float acc = 0.f;
  for (int j = tid; j < total; j += kThreads) {  // j = n*P*Q + pq
    const int img = fdiv(dPQ, j), pq = j - img * PQ;
    acc += dy[(static_cast<int64_t>(img) * K + k) * PQ + pq];
  }
#pragma unroll
  for (int off = 16; off > 0; off /= 2) acc += __shfl_xor_sync(0xffffffffu, acc, off);
  if (tid % 32 == 0) warp_sums[tid / 32] = acc;
  __syncthreads();
  if (tid == 0) {
    float s = 0.f;
#pragma unroll
    for (int i = 0; i < kThreads / 32; ++i) s += warp_sums[i];
    db[k] = s;
  }
}

}  // namespace lb::kernels::conv_impl
