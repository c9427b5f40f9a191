// conv2d_problems.cuh: the four "problems" the implicit-GEMM skeleton of conv2d_impl.cuh runs
// (forward, backward_input by gather, backward_input by stride parity class, backward_weight):
// how each gathers its A and B tiles from x, w or dy and where it writes each C element. Private
// to kernels/conv2d.cu.
#pragma once

#include "kernels/conv2d_tiles.cuh"

namespace lb::kernels::conv_impl {

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
  int T[kMaxPhase * kMaxPhase];  // taps of class z = ph*stride + pw: rows.n[ph] * cols.n[pw]
  FastDiv dT[kMaxPhase * kMaxPhase];
  FastDiv dns[kMaxPhase];  // cols.n[pw]
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
  int M, Ncols;  // N*Hc*Wc, C

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
        if (static_cast<unsigned>(p) < static_cast<unsigned>(d.P) &&
            static_cast<unsigned>(q) < static_cast<unsigned>(d.Q))
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

}  // namespace lb::kernels::conv_impl
