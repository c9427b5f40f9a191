// conv2d_v2_impl.cuh: the device side of lab/conv2d_v2.cu (private to it): the second
// implicit-GEMM skeleton ("v2"), lab-only until it has been measured. What changes from v1
// (conv2d_impl.cuh) and why is in docs/10-cuda.md, section 3, "conv2d v2"; in short:
//
//   block tile 128 (M) x BN (128, or 64 when the GEMM has <= 64 columns) x 16, 256 threads;
//   global -> shared with cp.async (4 bytes, zero-fill for padding and out-of-range elements), a
//   3-stage shared-memory pipeline (cp.async.commit_group / wait_group): two tiles in flight while
//   the third is multiplied, no register staging;
//   fp32: an 8 x BN/16 register micro-tile per thread from float4 shared loads (two halves 64
//   apart: conflict-free);
//   tf32: wmma m16n16k8 fragments, warp tile 64 x 32 (BN 128) or 32 x 32 (BN 64);
//   the index math (conv2d_v2_problems.cuh) is tap-major, one tap per tile when the reduction's
//   channel count is a multiple of 16, so a tile's gather is a base pointer plus adds;
//   the C tile leaves through shared memory in chunks of 64 columns.
//
// bf16 is not in v2 (the cp.async data lands as fp32; v1 keeps the bf16 path). Below sm_80 the
// copies are plain loads and stores (same pipeline, no overlap) and tf32 traps (the host never
// launches it there).
#pragma once

#include <type_traits>

#include "lab/conv2d_v2_problems.cuh"

namespace lb::kernels::conv_v2 {

// ---- cp.async ---------------------------------------------------------------------------------
__device__ __forceinline__ void cp_async4(float* dst, const float* src, bool valid) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(s), "l"(src), "r"(valid ? 4 : 0) : "memory");
#else
  *dst = valid ? *src : 0.f;
#endif
}
__device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}

// The device sink of a problem's load(): one cp.async per element into this stage's tiles.
struct AsyncSink {
  float* As;
  float* Bs;
  __device__ __forceinline__ void a(int slot, const float* src, bool valid) { cp_async4(As + slot, src, valid); }
  __device__ __forceinline__ void b(int slot, const float* src, bool valid) { cp_async4(Bs + slot, src, valid); }
};

// ---- fp32 micro-kernel ---------------------------------------------------------------------------
template <int BN>
__device__ __forceinline__ void mma_fp32(const float* As, const float* Bs, int tid, float (&acc)[8][BN / 16]) {
  constexpr int TN = BN / 16;
  const int tm = tid % 16, tn = tid / 16;
  const float* a = As + tm * 4;
  const float* b = Bs + tn * 4;
#pragma unroll
  for (int kk = 0; kk < kBK; ++kk) {
    float av[8], bv[TN];
    const float4 a0 = *reinterpret_cast<const float4*>(a + kk * kLdA);
    const float4 a1 = *reinterpret_cast<const float4*>(a + kk * kLdA + 64);
    av[0] = a0.x, av[1] = a0.y, av[2] = a0.z, av[3] = a0.w, av[4] = a1.x, av[5] = a1.y, av[6] = a1.z, av[7] = a1.w;
#pragma unroll
    for (int h = 0; h < TN / 4; ++h) {
      const float4 bb = *reinterpret_cast<const float4*>(b + kk * ld_b<BN> + 64 * h);
      bv[4 * h] = bb.x, bv[4 * h + 1] = bb.y, bv[4 * h + 2] = bb.z, bv[4 * h + 3] = bb.w;
    }
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
      for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
  }
}

// ---- tf32 micro-kernel -----------------------------------------------------------------------------
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
#define LB_CONV2D_V2_HAS_TF32 1
namespace wmma = nvcuda::wmma;
using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::col_major>;
using FragB = wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major>;
using FragC = wmma::fragment<wmma::accumulator, 16, 16, 8, float>;

// As[k][m] is A column-major (ld 132), Bs[k][n] B row-major (ld BN + 4); every fragment pointer is
// a multiple of 8 floats from a 128-byte aligned base (tile and stage sizes are multiples of 32 B).
template <int BN>
__device__ __forceinline__ void mma_tf32(const float* As, const float* Bs, int tid,
                                         FragC (&acc)[WarpTiles<BN>::kFM][WarpTiles<BN>::kFN]) {
  using WT = WarpTiles<BN>;
  const int warp = tid / 32;
  const float* a = As + WT::wm(warp);
  const float* b = Bs + WT::wn(warp);
#pragma unroll
  for (int ks = 0; ks < kBK; ks += 8) {
    FragA fa[WT::kFM];
    FragB fb[WT::kFN];
#pragma unroll
    for (int i = 0; i < WT::kFM; ++i) {
      wmma::load_matrix_sync(fa[i], a + ks * kLdA + 16 * i, kLdA);
#pragma unroll
      for (int e = 0; e < fa[i].num_elements; ++e) fa[i].x[e] = wmma::__float_to_tf32(fa[i].x[e]);
    }
#pragma unroll
    for (int j = 0; j < WT::kFN; ++j) {
      wmma::load_matrix_sync(fb[j], b + ks * ld_b<BN> + 16 * j, ld_b<BN>);
#pragma unroll
      for (int e = 0; e < fb[j].num_elements; ++e) fb[j].x[e] = wmma::__float_to_tf32(fb[j].x[e]);
    }
#pragma unroll
    for (int i = 0; i < WT::kFM; ++i)
#pragma unroll
      for (int j = 0; j < WT::kFN; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
  }
}
#endif

// ---- epilogue ------------------------------------------------------------------------------------
// Writes columns [64 h, 64 h + 64) of the C tile from Cs[n - 64 h][m] (row length ld).
template <class Prob, int BN>
__device__ __forceinline__ void store_chunk(const Prob& prob, const typename Prob::Table& tab, const float* Cs, int ld,
                                            int m0, int n0, int h, int tid) {
#pragma unroll 4
  for (int e = 0; e < kBM * kEpiCols / kThreads; ++e) {
    const int idx = tid + kThreads * e;
    const int ml = Prob::kStoreRowFast ? idx % kBM : idx / kEpiCols;
    const int nl = Prob::kStoreRowFast ? idx / kBM : idx % kEpiCols;
    const int m = m0 + ml, n = n0 + kEpiCols * h + nl;
    if (m < prob.M && n < prob.Ncols) prob.store(tab, blockIdx.z, m, n, Cs[nl * ld + ml]);
  }
}

// ---- the kernel ------------------------------------------------------------------------------------
// Two blocks per SM: 128 registers per thread. ptxas then fits the fp32 kernels without spills
// (but 8 bytes in the weight gradient's on sm_80) and spills 16-48 bytes (sm_90) or 28-92 bytes
// (sm_80) in the TF32 ones at BN = 128, which unbounded take 152-192 registers and one block per
// SM. Which is faster is for the lab to say; this is the knob.
constexpr int kMinBlocksPerSm = 2;

// Grid (ceil(M / 128), ceil(Ncols / BN), slices or classes); dynamic shared memory
// smem_floats<BN> floats. kTf32 only on sm_80+.
template <class Prob, int BN, bool kTf32>
__global__ void __launch_bounds__(kThreads, kMinBlocksPerSm) conv2d_v2_kernel(Prob prob, int chunk) {
  extern __shared__ __align__(128) float smem[];
  __shared__ typename Prob::Table tab;
  constexpr int TN = BN / 16;
  const int tid = threadIdx.x;
  if (tid == 0) prob.stage(tab, blockIdx.z);
  __syncthreads();
  const int m0 = blockIdx.x * kBM, n0 = blockIdx.y * BN;
  int kbeg, kend;
  prob.slice(tab, blockIdx.z, chunk, kbeg, kend);
  const int ntiles = (kend - kbeg + kBK - 1) / kBK;

  typename Prob::template State<BN> st;
  prob.template init<BN>(st, tab, m0, n0, tid);
  auto load = [&](int t) {
    float* base = smem + (t % kStages) * stage_floats<BN>;
    AsyncSink sink{base, base + kBK * kLdA};
    prob.template load<BN>(st, tab, kbeg + t * kBK, kend, tid, sink);
  };

#if defined(LB_CONV2D_V2_HAS_TF32)
  using WT = WarpTiles<BN>;
  FragC cfrag[WT::kFM][WT::kFN];
#endif
  float acc[8][TN];
  if constexpr (kTf32) {
#if defined(LB_CONV2D_V2_HAS_TF32)
#pragma unroll
    for (int i = 0; i < WT::kFM; ++i)
#pragma unroll
      for (int j = 0; j < WT::kFN; ++j) wmma::fill_fragment(cfrag[i][j], 0.f);
#else
    __trap();
#endif
  } else {
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
      for (int j = 0; j < TN; ++j) acc[i][j] = 0.f;
  }

  // Prologue: tiles 0 .. kStages - 2 in flight (one commit group each, empty past the end).
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < ntiles) load(s);
    cp_async_commit();
  }
  for (int t = 0; t < ntiles; ++t) {
    cp_async_wait<kStages - 2>();                         // tile t has landed (this thread's copies)...
    __syncthreads();                                      // ...everyone's, and everyone is done with tile t - 1's stage
    if (t + kStages - 1 < ntiles) load(t + kStages - 1);  // into tile t - 1's stage
    cp_async_commit();
    const float* As = smem + (t % kStages) * stage_floats<BN>;
    const float* Bs = As + kBK * kLdA;
    if constexpr (kTf32) {
#if defined(LB_CONV2D_V2_HAS_TF32)
      mma_tf32<BN>(As, Bs, tid, cfrag);
#endif
    } else {
      mma_fp32<BN>(As, Bs, tid, acc);
    }
  }
  cp_async_wait<0>();
  __syncthreads();  // the stages are free for the C tile

  // Epilogue, per chunk of 64 columns: Cs[n][m] (row kLdA, a multiple of 4 for wmma).
#pragma unroll
  for (int h = 0; h < BN / kEpiCols; ++h) {
    if constexpr (kTf32) {
#if defined(LB_CONV2D_V2_HAS_TF32)
      const int warp = tid / 32, wm = WT::wm(warp), wn = WT::wn(warp);
      if (wn / kEpiCols == h) {
#pragma unroll
        for (int i = 0; i < WT::kFM; ++i)
#pragma unroll
          for (int j = 0; j < WT::kFN; ++j)
            wmma::store_matrix_sync(smem + (wn - kEpiCols * h + 16 * j) * kLdA + wm + 16 * i, cfrag[i][j], kLdA,
                                    wmma::mem_col_major);
      }
#endif
    } else {
      const int tm = tid % 16, tn = tid / 16;
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int jj = 0; jj < 4; ++jj) smem[(tn * 4 + jj) * kLdA + fp_row(tm, i)] = acc[i][4 * h + jj];
    }
    __syncthreads();
    store_chunk<Prob, BN>(prob, tab, smem, kLdA, m0, n0, h, tid);
    __syncthreads();
  }
}

// The weight operand of forward or backward_input: out[o] = w[weight_source(layout, o)], K*C*R*S
// elements (< 2^30, checked by the plan).
__global__ void __launch_bounds__(kThreads)
    conv2d_v2_transpose_weights_kernel(const float* w, int K, int C, int RS, WeightLayout layout, float* out) {
  const int n = K * C * RS;
  for (int o = blockIdx.x * kThreads + threadIdx.x; o < n; o += gridDim.x * kThreads)
    out[o] = w[weight_source(layout, K, C, RS, o)];
}

// dw (K, C, R, S) at the live taps = sum over splits, in split order, of ws (splits, K, C*T); dead
// taps were zeroed by the caller.
__global__ void __launch_bounds__(kThreads)
    conv2d_v2_weight_reduce_kernel(const float* ws, int splits, ConvDims d, Taps taps, float* dw) {
  __shared__ int sr[kMaxTapDim], ss[kMaxTapDim];
  if (threadIdx.x == 0) {
    for (int i = 0; i < kMaxTapDim; ++i) sr[i] = taps.r[i], ss[i] = taps.s[i];
  }
  __syncthreads();
  const int64_t kct = static_cast<int64_t>(d.K) * d.C * d.T;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < kct;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float acc = 0.f;
    for (int z = 0; z < splits; ++z) acc += ws[z * kct + idx];
    dw[weight_target(d, sr, ss, idx)] = acc;
  }
}

}  // namespace lb::kernels::conv_v2
