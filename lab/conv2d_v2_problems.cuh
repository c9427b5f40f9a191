// conv2d_v2_problems.cuh: the index math of the second implicit-GEMM conv skeleton ("v2",
// lab/conv2d_v2_impl.cuh), lab-only until measured: the tile constants, the host plan (live
// taps, stride classes, divisors) and the three problems, each of which says which global element
// every thread copies into which shared-memory slot of a tile, and where each C element goes.
//
// Unlike v1 (conv2d_problems.cuh) a problem does not load into registers: it hands every copy to a
// "sink" (sink.a(slot, src, valid) for the A tile, sink.b(...) for B). On the GPU the sink issues
// a 4-byte cp.async with zero-fill for !valid (src is then the tensor's base and is never read);
// tests/lab/test_conv2d_v2_index.cc compiles this header as host C++ (LB_CONV2D_EMULATE, the
// test supplies __device__, __umulhi) with a recording sink and checks every tile of every
// ResNet18 layer shape and odd shapes against the CPU convolution.
//
// Reduction order. v1 reduces over kr = c*T + t (channel-major). v2 reduces tap-major,
// kr = t*Cred + c (Cred = C forward, K backward-input), so when Cred is a multiple of kBK (every
// ResNet18 conv but the stem) a whole 16-deep tile shares one tap (r, s): the tap is found with two
// divisions per tile, and each thread's 8 A elements are its row's base pointer plus multiples of
// the channel stride (adds only). Otherwise (kFast false: the stem, odd test shapes) each element
// is split with FastDiv, as in v1.
//
// forward         A[m, kr] = x[n, c, p*st - pad + r, q*st - pad + s]   m = (n, p, q), kr = (t, c)
//                 B[kr, k] = w[k, c, r, s]
// backward_input  one GEMM per stride class (a, b) = (h mod st, w mod st), blockIdx.z = class, as
//                 v1's BwdInputPhaseProblem: m = (n, i, j) with h = a + st*i, w = b + st*j,
//                 A[m, kr] = dy[n, k, i + offr - ir, j + offc - is], kr = (t, k), t = (ir, is)
//                 B[kr, c] = w[k, c, firstr + st*ir, firsts + st*is]
//                 Both are the same "gather" problem (GatherProblem<kBwd, kFast>): a row base
//                 coordinate, a per-tap displacement table and a per-tap weight offset.
// backward_weight A[k, j] = dy[n, k, p, q], B[j, ct] = x[n, c, p*st - pad + r, q*st - pad + s],
//                 j = (n, p, q), ct = c*T + t (v1's compact layout), split-K over j.
#pragma once

#include <cstdint>

#include "kernels/conv2d_plan.cuh"
#include "kernels/conv2d_tiles.cuh"
#include "kernels/shapes.h"

#include <algorithm>

#include "base/common.h"

namespace lb::kernels::conv_v2 {

using conv_impl::ConvDims;
using conv_impl::FastDiv;
using conv_impl::fdiv;
using conv_impl::kMaxTapDim;
using conv_impl::make_fastdiv;
using conv_impl::Taps;

constexpr int kBM = 128, kBK = 16, kStages = 3, kThreads = 256;
constexpr int kLdA = kBM + 4;                   // A tile row (one reduction index): 132 floats
constexpr int kAPer = kBM * kBK / kThreads;     // A elements per thread and tile: 8
constexpr int kMaxBPer = 128 * kBK / kThreads;  // B elements per thread and tile (BN = 128): 8
constexpr int kMaxPhase = 4;                    // stride classes up to stride 4 (v1's)
template <int BN>
constexpr int ld_b = BN + 4;  // B tile row
template <int BN>
constexpr int b_per = BN* kBK / kThreads;  // B elements per thread and tile
template <int BN>
constexpr int stage_floats = kBK*(kLdA + ld_b<BN>);
// The C tile goes out through shared memory in chunks of 64 columns, Cs[n][m] (row kLdA).
constexpr int kEpiCols = 64;
template <int BN>
constexpr int smem_floats = kStages* stage_floats<BN> > kEpiCols* kLdA ? kStages* stage_floats<BN> : kEpiCols* kLdA;
static_assert(kAPer == 8 && kThreads == 2 * kBM && kThreads == 16 * kBK, "tile shape");

// Thread tid's A slots in the two layouts (slot = kl * kLdA + row):
//   row-fast: row tid % 128, kl = tid / 128 + 2 i          (a warp: 32 consecutive rows)
//   red-fast: kl = tid % 16, row tid / 16 + 16 i            (a warp: 16 consecutive reductions)
// B (BN rows) is always red-fast: kl = tid % 16, column tid / 16 + 16 i, i < BN / 16.
__device__ __forceinline__ int rf_row(int tid) { return tid % kBM; }
__device__ __forceinline__ int rf_kl(int tid, int i) { return tid / kBM + 2 * i; }
__device__ __forceinline__ int kf_kl(int tid) { return tid % kBK; }
__device__ __forceinline__ int kf_row(int tid, int i) { return tid / kBK + 16 * i; }

// fp32 micro-tile: thread (tm = tid % 16, tn = tid / 16) owns rows fp_row(tm, i), i < 8, and
// columns fp_col(tn, j), j < BN / 16 (two float4 halves 64 apart, so a warp's float4 reads of a
// tile row are conflict-free). Columns j / 4 = h lie in epilogue chunk h.
__device__ __forceinline__ int fp_row(int tm, int i) { return (i / 4) * 64 + tm * 4 + i % 4; }
__device__ __forceinline__ int fp_col(int tn, int j) { return (j / 4) * 64 + tn * 4 + j % 4; }

// tf32 warp tiles: BN / 32 warps across N (32 columns each, 2 fragments), the rest across M.
template <int BN>
struct WarpTiles {
  static constexpr int kWarpsN = BN / 32, kWarpsM = kThreads / 32 / kWarpsN;
  static constexpr int kWM = kBM / kWarpsM, kFM = kWM / 16, kFN = 2;
  __device__ __forceinline__ static int wm(int warp) { return (warp % kWarpsM) * kWM; }
  __device__ __forceinline__ static int wn(int warp) { return (warp / kWarpsM) * 32; }
};

// ---------------------------------------------------------------------------------------------
// The host plan: v1's (kernels/conv2d_plan.cuh, shared, so the CPU test runs the very code both
// launchers run), plus v2's own stride classes for backward_input.

using conv_impl::make_plan;
using conv_impl::Plan;

// backward_input's stride classes, per axis and phase a: first live tap, dy offset, live count.
struct Phases {
  int first_r[kMaxPhase], off_r[kMaxPhase], n_r[kMaxPhase];
  int first_s[kMaxPhase], off_s[kMaxPhase], n_s[kMaxPhase];
  FastDiv dns[kMaxPhase];
};

inline Phases make_phases(const Plan& plan) {
  const ConvDims& d = plan.d;
  LB_CHECK(d.stride <= kMaxPhase, "conv2d v2: stride classes only up to stride " << kMaxPhase);
  Phases ph{};
  auto axis = [&](const int* live, int nlive, int* first, int* off, int* n) {
    for (int a = 0; a < d.stride; ++a) {
      int cnt = 0, f = 0;
      for (int i = 0; i < nlive; ++i) {
        const int t = live[i];
        if ((a + d.pad - t) % d.stride != 0) continue;
        if (cnt == 0) f = t;
        LB_CHECK(t == f + cnt * d.stride, "conv2d v2: live taps of a stride class are not consecutive");
        ++cnt;
      }
      first[a] = f, n[a] = cnt;
      off[a] = cnt > 0 ? (a + d.pad - f) / d.stride : 0;
    }
  };
  axis(plan.taps.r, plan.taps.nr, ph.first_r, ph.off_r, ph.n_r);
  axis(plan.taps.s, plan.taps.ns, ph.first_s, ph.off_s, ph.n_s);
  for (int a = 0; a < d.stride; ++a) ph.dns[a] = make_fastdiv(ph.n_s[a]);
  return ph;
}

// The N tile: 64 when the GEMM has at most 64 columns, else 128.
inline int choose_bn(int64_t ncols) { return ncols <= 64 ? 64 : 128; }

// ---------------------------------------------------------------------------------------------
// forward and backward_input ("gather" problems).

// One block's taps (forward: the live taps; backward_input: class z's), staged in shared memory.
struct GatherTable {
  int nr, ns, T;
  FastDiv dns;
  int dr[kMaxTapDim], ds[kMaxTapDim];  // source coordinate = row base + dr[ir] (rows), + ds[is] (columns)
  int wr[kMaxTapDim], ws[kMaxTapDim];  // the weight's filter row / column of tap (ir, is)
  int a, b;                            // backward_input: the class (h mod st, w mod st)
};

template <bool kBwd, bool kFast>
struct GatherProblem {
  static constexpr bool kStoreRowFast = true;
  const float* src;   // forward x (N, C, H, W); backward_input dy (N, K, P, Q)
  const float* w;     // the weight operand (see wred below)
  const float* bias;  // forward only, (K) or null
  float* out;         // forward y (N, K, P, Q); backward_input dx (N, C, H, W)
  ConvDims d;
  Taps taps;              // forward
  Phases ph;              // backward_input
  int Cred, Hs, Ws, HWs;  // reduction channels (C or K) and the source plane
  int Ho, Wo, HWo;        // the row grid per image: P x Q, or the class's Hc x Wc
  FastDiv dHWo, dWo, dCred;
  // The weight operand: B[(tap, ch), col] = w[col*wcol + ch*wred + (wr*S + ws)*wtap]. The
  // launcher passes a transposed copy (WeightLayout, below) so that ch is the fastest axis:
  // forward (K, R*S, C), backward_input (C, R*S, K); then a warp's 16 reductions are 64
  // contiguous bytes. With w itself: forward wred = R*S, wtap = 1, wcol = C*R*S.
  int wred, wtap, wcol;
  int M, Ncols;

  using Table = GatherTable;
  __device__ __forceinline__ void stage(Table& t, int z) const {
    if (!kBwd) {
      t.nr = taps.nr, t.ns = taps.ns, t.dns = d.dns, t.a = t.b = 0;
      for (int i = 0; i < kMaxTapDim; ++i) t.dr[i] = t.wr[i] = taps.r[i], t.ds[i] = t.ws[i] = taps.s[i];
    } else {
      const int a = z / d.stride, b = z - a * d.stride;
      t.a = a, t.b = b, t.nr = ph.n_r[a], t.ns = ph.n_s[b], t.dns = ph.dns[b];
      for (int i = 0; i < kMaxTapDim; ++i) {
        t.dr[i] = ph.off_r[a] - i, t.wr[i] = ph.first_r[a] + d.stride * i;
        t.ds[i] = ph.off_s[b] - i, t.ws[i] = ph.first_s[b] + d.stride * i;
      }
    }
    t.T = t.nr * t.ns;
  }
  __device__ __forceinline__ void slice(const Table& t, int, int, int& kbeg, int& kend) const {
    kbeg = 0;
    kend = Cred * t.T;
  }

  template <int BN>
  struct State {
    int hb, wb;  // this thread's A row: source coordinates before the tap displacement
    bool mvalid;
    int64_t srcbase;                // image offset in src
    int bcol[BN * kBK / kThreads];  // weight offset of each B column, -1 past Ncols
  };

  template <int BN>
  __device__ __forceinline__ void init(State<BN>& st, const Table& t, int m0, int n0, int tid) const {
    const int m = m0 + rf_row(tid);
    const int mm = m < M ? m : 0;
    const int img = fdiv(dHWo, mm), o = mm - img * HWo;
    const int oh = fdiv(dWo, o), ow = o - oh * Wo;
    if (kBwd) {
      st.hb = oh, st.wb = ow;
      st.mvalid = m < M && t.a + d.stride * oh < d.H && t.b + d.stride * ow < d.W;
    } else {
      st.hb = oh * d.stride - d.pad, st.wb = ow * d.stride - d.pad;
      st.mvalid = m < M;
    }
    st.srcbase = static_cast<int64_t>(img) * Cred * HWs;
#pragma unroll
    for (int i = 0; i < b_per<BN>; ++i) {
      const int n = n0 + kf_row(tid, i);
      st.bcol[i] = n < Ncols ? n * wcol : -1;
    }
  }

  // Copies of the A and B elements of the tile at reductions [k0, k0 + 16) (those >= kend are 0).
  template <int BN, class Sink>
  __device__ __forceinline__ void load(const State<BN>& st, const Table& t, int k0, int kend, int tid,
                                       Sink& sink) const {
    const int row = rf_row(tid), kl0 = rf_kl(tid, 0), klb = kf_kl(tid);
    if (kFast) {  // Cred % 16 == 0: one tap (ir, is) and channels c0 .. c0 + 15 for the whole tile
      const int tap = fdiv(dCred, k0), c0 = k0 - tap * Cred;
      const int ir = fdiv(t.dns, tap), is = tap - ir * t.ns;
      const int h = st.hb + t.dr[ir], wc = st.wb + t.ds[is];
      const bool valid = st.mvalid && static_cast<unsigned>(h) < static_cast<unsigned>(Hs) &&
                         static_cast<unsigned>(wc) < static_cast<unsigned>(Ws);
      const float* p = src + (valid ? st.srcbase + static_cast<int64_t>(c0 + kl0) * HWs + h * Ws + wc : 0);
#pragma unroll
      for (int i = 0; i < kAPer; ++i) sink.a(rf_kl(tid, i) * kLdA + row, valid ? p + 2 * i * HWs : src, valid);
      const int boff = (c0 + klb) * wred + (t.wr[ir] * d.S + t.ws[is]) * wtap;
#pragma unroll
      for (int i = 0; i < b_per<BN>; ++i) {
        const bool bv = st.bcol[i] >= 0;
        sink.b(klb * ld_b<BN> + kf_row(tid, i), bv ? w + st.bcol[i] + boff : w, bv);
      }
    } else {  // any Cred: split each reduction index kr = tap*Cred + c
#pragma unroll
      for (int i = 0; i < kAPer; ++i) {
        const int kr = k0 + rf_kl(tid, i);
        bool valid = st.mvalid && kr < kend;
        int64_t off = 0;
        if (valid) {
          const int tap = fdiv(dCred, kr), c = kr - tap * Cred;
          const int ir = fdiv(t.dns, tap), is = tap - ir * t.ns;
          const int h = st.hb + t.dr[ir], wc = st.wb + t.ds[is];
          valid = static_cast<unsigned>(h) < static_cast<unsigned>(Hs) &&
                  static_cast<unsigned>(wc) < static_cast<unsigned>(Ws);
          off = st.srcbase + static_cast<int64_t>(c) * HWs + h * Ws + wc;
        }
        sink.a(rf_kl(tid, i) * kLdA + row, valid ? src + off : src, valid);
      }
      const int kr = k0 + klb;
      const bool kvalid = kr < kend;
      int boff = 0;
      if (kvalid) {
        const int tap = fdiv(dCred, kr), c = kr - tap * Cred;
        const int ir = fdiv(t.dns, tap), is = tap - ir * t.ns;
        boff = c * wred + (t.wr[ir] * d.S + t.ws[is]) * wtap;
      }
#pragma unroll
      for (int i = 0; i < b_per<BN>; ++i) {
        const bool bv = kvalid && st.bcol[i] >= 0;
        sink.b(klb * ld_b<BN> + kf_row(tid, i), bv ? w + st.bcol[i] + boff : w, bv);
      }
    }
  }

  __device__ __forceinline__ void store(const Table& t, int, int m, int n, float v) const {
    const int img = fdiv(dHWo, m), o = m - img * HWo;
    if (!kBwd) {
      out[(static_cast<int64_t>(img) * d.K + n) * d.PQ + o] = v + (bias ? bias[n] : 0.f);
    } else {
      const int i = fdiv(dWo, o), j = o - i * Wo;
      const int h = t.a + d.stride * i, wc = t.b + d.stride * j;
      if (h < d.H && wc < d.W) out[(static_cast<int64_t>(img) * d.C + n) * d.HW + h * d.W + wc] = v;
    }
  }
};

// ---------------------------------------------------------------------------------------------
// backward_weight: M = K, Ncols = C*T, red = N*P*Q (split-K slices of `chunk`), out (splits, K, C*T).

struct WeightTable {
  int r[kMaxTapDim], s[kMaxTapDim];
};

struct WeightProblem {
  static constexpr bool kStoreRowFast = false;
  const float* x;   // (N, C, H, W)
  const float* dy;  // (N, K, P, Q)
  float* out;       // (splits, K, C*T)
  ConvDims d;
  Taps taps;
  int M, Ncols, red;

  using Table = WeightTable;
  __device__ __forceinline__ void stage(Table& t, int) const {
    for (int i = 0; i < kMaxTapDim; ++i) t.r[i] = taps.r[i], t.s[i] = taps.s[i];
  }
  __device__ __forceinline__ void slice(const Table&, int z, int chunk, int& kbeg, int& kend) const {
    conv_impl::splitk_slice(red, z, chunk, kbeg, kend);
  }

  template <int BN>
  struct State {
    int krow;                                            // k of A element 0 (element i: krow + 16 i)
    int coff[BN * kBK / kThreads];                       // c * H * W of each B column; -1 past Ncols
    int r[BN * kBK / kThreads], s[BN * kBK / kThreads];  // its tap minus the padding
  };

  template <int BN>
  __device__ __forceinline__ void init(State<BN>& st, const Table& t, int m0, int n0, int tid) const {
    st.krow = m0 + kf_row(tid, 0);
#pragma unroll
    for (int i = 0; i < b_per<BN>; ++i) {
      const int n = n0 + kf_row(tid, i);
      const int nn = n < Ncols ? n : 0;
      const int ch = fdiv(d.dT, nn), tap = nn - ch * d.T;
      const int ir = fdiv(d.dns, tap), is = tap - ir * d.ns;
      st.coff[i] = n < Ncols ? ch * d.HW : -1;
      st.r[i] = t.r[ir] - d.pad;
      st.s[i] = t.s[is] - d.pad;
    }
  }

  template <int BN, class Sink>
  __device__ __forceinline__ void load(const State<BN>& st, const Table&, int k0, int kend, int tid, Sink& sink) const {
    const int kl = kf_kl(tid);
    const int j = k0 + kl;
    const bool jvalid = j < kend;
    const int jj = jvalid ? j : 0;
    const int img = fdiv(d.dPQ, jj), pq = jj - img * d.PQ;
    const int p = fdiv(d.dQ, pq), q = pq - p * d.Q;
    const float* a = dy + (static_cast<int64_t>(img) * d.K + st.krow) * d.PQ + pq;
#pragma unroll
    for (int i = 0; i < kAPer; ++i) {
      const bool v = jvalid && st.krow + 16 * i < M;
      sink.a(kl * kLdA + kf_row(tid, i), v ? a + static_cast<int64_t>(16 * i) * d.PQ : dy, v);
    }
    const float* xb = x + static_cast<int64_t>(img) * d.C * d.HW;
    const int hb = p * d.stride, wb = q * d.stride;
#pragma unroll
    for (int i = 0; i < b_per<BN>; ++i) {
      const int h = hb + st.r[i], wc = wb + st.s[i];
      const bool v = jvalid && st.coff[i] >= 0 && static_cast<unsigned>(h) < static_cast<unsigned>(d.H) &&
                     static_cast<unsigned>(wc) < static_cast<unsigned>(d.W);
      sink.b(kl * ld_b<BN> + kf_row(tid, i), v ? xb + st.coff[i] + h * d.W + wc : x, v);
    }
  }

  __device__ __forceinline__ void store(const Table&, int z, int m, int n, float v) const {
    out[(static_cast<int64_t>(z) * M + m) * Ncols + n] = v;
  }
};

// The weight operand layouts: element o of the transposed copy is w[weight_source(...)] of w (K, C, R, S).
enum class WeightLayout { kForward, kBackwardInput };  // (K, R*S, C), (C, R*S, K)

__device__ __forceinline__ int weight_source(WeightLayout layout, int K, int C, int RS, int o) {
  if (layout == WeightLayout::kForward) {  // o = (k*RS + rs)*C + c
    const int c = o % C, krs = o / C, rs = krs % RS, k = krs / RS;
    return (k * C + c) * RS + rs;
  }
  const int k = o % K, crs = o / K, rs = crs % RS, c = crs / RS;  // o = (c*RS + rs)*K + k
  return (k * C + c) * RS + rs;
}

// Where compact element idx = k*C*T + ct of the weight gradient goes in dw (K, C, R, S).
__device__ __forceinline__ int64_t weight_target(const ConvDims& d, const int* tr, const int* ts, int64_t idx) {
  const int ct = d.C * d.T;
  const int k = static_cast<int>(idx / ct), n = static_cast<int>(idx - static_cast<int64_t>(k) * ct);
  const int ch = fdiv(d.dT, n), tap = n - ch * d.T;
  const int ir = fdiv(d.dns, tap), is = tap - ir * d.ns;
  return (static_cast<int64_t>(k) * d.C + ch) * d.RS + tr[ir] * d.S + ts[is];
}

// ---------------------------------------------------------------------------------------------
// The problems as the launcher sets them up (host; the CPU test builds them the same way).
// forward: kFast when C % 16 == 0.
// w: the weights as conv2d_v2_transpose_weights_kernel leaves them for WeightLayout::kForward,
// (K, R*S, C).
template <bool kFast>
GatherProblem<false, kFast> forward_problem(const Plan& plan, const float* x, const float* w, const float* bias,
                                            float* y) {
  const ConvDims& d = plan.d;
  GatherProblem<false, kFast> p{};
  p.src = x, p.w = w, p.bias = bias, p.out = y, p.d = d, p.taps = plan.taps;
  p.Cred = d.C, p.Hs = d.H, p.Ws = d.W, p.HWs = d.HW;
  p.Ho = d.P, p.Wo = d.Q, p.HWo = d.PQ;
  p.dHWo = make_fastdiv(p.HWo), p.dWo = make_fastdiv(p.Wo), p.dCred = make_fastdiv(p.Cred);
  p.wred = 1, p.wtap = d.C, p.wcol = d.RS * d.C;
  p.M = d.N * d.PQ, p.Ncols = d.K;
  return p;
}

// backward_input by stride class (stride <= kMaxPhase): kFast when K % 16 == 0; grid z = stride^2.
// w: the weights as WeightLayout::kBackwardInput lays them out, (C, R*S, K).
template <bool kFast>
GatherProblem<true, kFast> backward_input_problem(const Plan& plan, const float* dy, const float* w, float* dx) {
  const ConvDims& d = plan.d;
  GatherProblem<true, kFast> p{};
  p.src = dy, p.w = w, p.bias = nullptr, p.out = dx, p.d = d, p.taps = plan.taps, p.ph = make_phases(plan);
  p.Cred = d.K, p.Hs = d.P, p.Ws = d.Q, p.HWs = d.PQ;
  p.Ho = (d.H + d.stride - 1) / d.stride, p.Wo = (d.W + d.stride - 1) / d.stride, p.HWo = p.Ho * p.Wo;
  p.dHWo = make_fastdiv(p.HWo), p.dWo = make_fastdiv(p.Wo), p.dCred = make_fastdiv(p.Cred);
  p.wred = 1, p.wtap = d.K, p.wcol = d.RS * d.K;
  p.M = d.N * p.HWo, p.Ncols = d.C;
  return p;
}

// backward_weight: M = K, Ncols = C*T, red = N*P*Q; `out` is set by the caller.
inline WeightProblem weight_problem(const Plan& plan, const float* x, const float* dy) {
  const ConvDims& d = plan.d;
  return WeightProblem{x, dy, nullptr, d, plan.taps, d.K, d.C * d.T, d.N * d.PQ};
}

// Split-K of the weight gradient: about two blocks per SM (a 128 x 128 block of 256 threads with
// ~50 KB of shared memory: two fit an SM by registers), at least 8 tiles (128 reductions) per
// slice, at most 256 slices; returned as (splits, chunk) with chunk a whole number of tiles and no
// empty trailing slice.
inline void weight_splits(int64_t tiles_mn, int64_t red, int sms, int& splits, int& chunk) {
  const int64_t ktiles = (red + kBK - 1) / kBK;
  const int64_t want = 2 * static_cast<int64_t>(sms);
  int64_t sp = std::min<int64_t>((want + tiles_mn - 1) / tiles_mn, std::max<int64_t>(1, ktiles / 8));
  sp = std::max<int64_t>(1, std::min<int64_t>(sp, 256));
  const int64_t ch = ((ktiles + sp - 1) / sp) * kBK;
  splits = static_cast<int>((red + ch - 1) / ch);
  chunk = static_cast<int>(ch);
}

}  // namespace lb::kernels::conv_v2
