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
//   tf32: 8 warps, each a 16x32 strip of wmma m16n16k8 tf32 fragments (fp32 accumulate);
//   bf16: the same warp layout with wmma m16n16k16 bf16 fragments (fp32 accumulate); the tiles are
//         rounded to bf16 (__float2bfloat16_rn) as they are written to shared memory, which holds
//         them as bf16 (kLdH); the epilogue is TF32's.
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
// The tile constants and index helpers are in conv2d_tiles.cuh, the problems in
// conv2d_problems.cuh; this file holds the skeleton and the kernels built on it. All three also
// compile as host C++ (LB_CONV2D_EMULATE) so a CPU harness can run the kernels thread by thread
// against a naive loop (such a harness supplies nvcuda::wmma, and for the bf16 path __nv_bfloat16,
// __float2bfloat16_rn and __bfloat162float).
#pragma once

#include <type_traits>

#include "kernels/conv2d_problems.cuh"
#include "kernels/shapes.h"

namespace lb::kernels::conv_impl {

// ---------------------------------------------------------------------------------------------
// The skeleton. Shared memory: A tiles As[buf] (16, 68) holding A[m0 + col, k0 + row], B tiles
// Bs[buf] (16, 68) holding B[k0 + row, n0 + col]; after the loop the C tile Cs[n][m].

template <class Prob>
__device__ __forceinline__ void stash_tiles(float* smem, int buf, int tid, const float (&ra)[kPer],
                                            const float (&rb)[kPer]) {
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

// stash_tiles for Bf16 mode: the same layout as bf16 tiles (A at tile buf, B at tile 2 + buf, row
// length kLdH), each value rounded to nearest even as it is stored.
template <class Prob>
__device__ __forceinline__ void stash_tiles_bf16(float* smem, int buf, int tid, const float (&ra)[kPer],
                                                 const float (&rb)[kPer]) {
  __nv_bfloat16* As = reinterpret_cast<__nv_bfloat16*>(smem) + buf * kTileHalfs;
  __nv_bfloat16* Bs = reinterpret_cast<__nv_bfloat16*>(smem) + (2 + buf) * kTileHalfs;
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    if (Prob::kARowFast)
      As[rowfast_red(tid, i) * kLdH + rowfast_row(tid)] = __float2bfloat16_rn(ra[i]);
    else
      As[redfast_red(tid) * kLdH + redfast_row(tid, i)] = __float2bfloat16_rn(ra[i]);
    if (Prob::kBRowFast)
      Bs[rowfast_red(tid, i) * kLdH + rowfast_row(tid)] = __float2bfloat16_rn(rb[i]);
    else
      Bs[redfast_red(tid) * kLdH + redfast_row(tid, i)] = __float2bfloat16_rn(rb[i]);
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

using FragAh = wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::col_major>;
using FragBh = wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major>;
using FragCh = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;
static_assert(kBK == 16, "mma_bf16 takes the whole 16-deep tile in one k-step");

// bf16 micro-kernel: tf32's warp layout, one m16n16k16 step per tile. As (16, kLdH) is A
// column-major, Bs (16, kLdH) B row-major, both already bf16.
__device__ __forceinline__ void mma_bf16(const float* smem, int buf, int tid, FragCh (&acc)[2]) {
  const int wp = tid / 32, wm = (wp % 4) * 16, wn = (wp / 4) * 32;
  const __nv_bfloat16* As = reinterpret_cast<const __nv_bfloat16*>(smem) + buf * kTileHalfs + wm;
  const __nv_bfloat16* Bs = reinterpret_cast<const __nv_bfloat16*>(smem) + (2 + buf) * kTileHalfs + wn;
  FragAh a;
  wmma::load_matrix_sync(a, As, kLdH);
#pragma unroll
  for (int j = 0; j < 2; ++j) {
    FragBh b;
    wmma::load_matrix_sync(b, Bs + 16 * j, kLdH);
    wmma::mma_sync(acc[j], a, b, acc[j]);
  }
}
#endif

// kMode is the MathMode after the host's fallback (Tf32 and Bf16 only on sm_80+).
template <class Prob, MathMode kMode>
__global__ void __launch_bounds__(kThreads) conv2d_igemm_kernel(Prob prob, int chunk) {
  constexpr bool kTf32 = kMode == MathMode::Tf32, kBf16 = kMode == MathMode::Bf16;
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
  std::conditional_t<kBf16, FragCh, FragC> cfrag[2];
#endif
  float acc[4][4] = {};
  if constexpr (kTf32 || kBf16) {
#if defined(LB_CONV2D_HAS_TF32)
    wmma::fill_fragment(cfrag[0], 0.f);
    wmma::fill_fragment(cfrag[1], 0.f);
#else
    __trap();  // tf32 and bf16 tensor cores need sm_80; the host dispatches only there
#endif
  }
  if (ntiles > 0) {
    prob.load(st, kbeg, kend, ra, rb);
    if constexpr (kBf16)
      stash_tiles_bf16<Prob>(smem, 0, tid, ra, rb);
    else
      stash_tiles<Prob>(smem, 0, tid, ra, rb);
  }
  __syncthreads();
  for (int t = 0; t < ntiles; ++t) {
    const int buf = t & 1;
    const bool more = t + 1 < ntiles;
    if (more) prob.load(st, kbeg + (t + 1) * kBK, kend, ra, rb);  // in flight during the math
    if constexpr (kBf16) {
#if defined(LB_CONV2D_HAS_TF32)
      mma_bf16(smem, buf, tid, cfrag);
#endif
    } else if constexpr (kTf32) {
#if defined(LB_CONV2D_HAS_TF32)
      mma_tf32(smem, buf, tid, cfrag);
#endif
    } else {
      mma_fp32(smem, buf, tid, acc);
    }
    // buf ^ 1 was last read before the previous barrier
    if constexpr (kBf16) {
      if (more) stash_tiles_bf16<Prob>(smem, buf ^ 1, tid, ra, rb);
    } else {
      if (more) stash_tiles<Prob>(smem, buf ^ 1, tid, ra, rb);
    }
    __syncthreads();
  }

  // The loop ended on a barrier: the tiles are free for the C tile Cs[n][m].
  int ld = kBM + 1;  // odd row length: both store orders read Cs without bank conflicts
  if constexpr (kTf32 || kBf16) {
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
// backward_input for few input channels (C <= kDirectMaxC: the stem, C = 1 or 3), fp32 FMA in every
// math mode (no tensor cores). With kBf16 (MathMode::Bf16) its two operands, w and dy, are rounded
// to bf16 as they are read, so it computes what the bf16 GEMMs compute: the products of bf16 values
// are exact in fp32, only the order of the fp32 additions differs. The GEMMs above would use C of
// their 64 tile columns. Here dx is split
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
constexpr int kDirU = 8;                         // class rows per thread
constexpr int kDirE = 4;                         // row taps per register window
constexpr int kDirRows = kThreads / 32 * kDirU;  // class rows per block
constexpr int kDirectMaxWeights = 12288;         // 48 KB: the default dynamic shared memory limit

// v rounded to the nearest bf16 (Bf16 mode's operand rounding), kept as a float.
__device__ __forceinline__ float bf16_round(float v) { return __bfloat162float(__float2bfloat16_rn(v)); }

template <bool kBf16>
__global__ void __launch_bounds__(kThreads)
    conv2d_backward_input_direct_kernel(const float* dy, const float* w, float* dx, ConvDims d, int Hc, int rowblocks) {
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
    const float wv = w[(static_cast<int64_t>(k) * d.C + c) * d.RS + (e - k * d.RS)];
    sw[e] = kBf16 ? bf16_round(wv) : wv;
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
          const int pbase =
              i0 + offr - ir0 - (kDirE - 1);  // row tap ir0 + e, class row i0 + u: window x = u + kDirE-1-e
          float win[kDirU + kDirE - 1];
#pragma unroll
          for (int x = 0; x < kDirU + kDirE - 1; ++x) {
            const int p = pbase + x;
            win[x] = x >= kDirE - ne && static_cast<unsigned>(p) < static_cast<unsigned>(d.P) ? dyk[p * d.Q + q] : 0.f;
            if (kBf16) win[x] = bf16_round(win[x]);
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
    conv2d_backward_weight_reduce_kernel(const float* ws, int splits, ConvDims d, Taps taps, float* dw) {
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
    conv2d_backward_bias_kernel(const float* dy, int K, int PQ, int total, FastDiv dPQ, float* db) {
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
