// linear.cu: lightbox's own GEMM (fp32 and TF32 tensor cores) and the linear layer built on it.
//
// Shapes (the letters of this file): gemm computes C (M, N) = alpha * op(A) (M, K) op(B) (K, N)
// + beta * C, all row-major, lda/ldb/ldc the row strides of the stored matrices (cblas's
// convention, as engine/cpu/gemm.h). linear: x (N, IN), w (OUT, IN), bias and db (OUT),
// y and dy (N, OUT); engine/cpu/linear.cc is the reference.
//
// gemm_fp32_kernel: a 64 x 64 tile of C per 256-thread block, K walked in steps of 8 through
// shared memory, each thread holding a 4 x 4 register micro-tile (16 FMAs per 8 shared loads).
// gemm_tf32_kernel: a 64 x 64 tile per 4 warps, each warp 2 x 2 wmma m16n16k8 fragments with fp32
// accumulation, K in steps of 32. gemm_bf16_kernel (Bf16, kernels/shapes.h) is the tf32 kernel with
// the tiles rounded to bf16 (__float2bfloat16_rn) as they are written to shared memory, held there
// as bf16, and multiplied by wmma m16n16k16 bf16 fragments (fp32 accumulation). All three load
// tiles with bounds checks (zeros outside), so any M, N, K and any leading dimension work; the
// global-load mapping follows the transposition so that neighbouring threads read neighbouring
// addresses. beta == 0 never reads C (it may be uninitialised memory holding NaN).
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <mma.h>

#include "kernels/common.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/linear.cuh"
#include "kernels/softmax.cuh"

namespace lb::kernels {

namespace {

using detail::cuda_stream;
using detail::grid_for;

// The tiles' constants; suffix 1 is gemm_fp32_kernel's, 2 gemm_tf32_kernel's, 3 gemm_bf16_kernel's
// (which takes its K step and C stride from 2).
constexpr int kTile = 64;         // C tile edge of all three
constexpr int kK1 = 8;            // K step
constexpr int kPad1 = kTile + 4;  // shared row stride (4-way bank spread, float4 aligned)
constexpr int kThreads1 = 256;
constexpr int kK2 = 32;         // K step
constexpr int kLdA2 = kK2 + 4;  // shared strides, multiples of 4 floats (wmma ldm rule)
constexpr int kLdB2 = kTile + 4;
constexpr int kLdC2 = kTile + 4;
constexpr int kThreads2 = 128;
constexpr int kLdA3 = kK2 + 8;  // bf16 shared strides, multiples of 8 elements (16 bytes)
constexpr int kLdB3 = kTile + 8;

// op(A)(m, k) and op(B)(k, n) of the stored row-major matrices.
__device__ __forceinline__ float load_a(const float* A, int64_t lda, bool ta, int64_t M, int64_t K, int64_t m,
                                        int64_t k) {
  if (m >= M || k >= K) return 0.f;
  return ta ? A[k * lda + m] : A[m * lda + k];
}
__device__ __forceinline__ float load_b(const float* B, int64_t ldb, bool tb, int64_t K, int64_t N, int64_t k,
                                        int64_t n) {
  if (k >= K || n >= N) return 0.f;
  return tb ? B[n * ldb + k] : B[k * ldb + n];
}

// C = alpha * acc + beta * C, C read only when beta != 0.
__device__ __forceinline__ void store_c(float* C, int64_t ldc, int64_t m, int64_t n, float acc, float alpha,
                                        float beta) {
  float v = alpha * acc;
  if (beta != 0.f) v = fmaf(beta, C[m * ldc + n], v);
  C[m * ldc + n] = v;
}

__global__ void __launch_bounds__(kThreads1)
    gemm_fp32_kernel(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                     const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  __shared__ __align__(16) float As[kK1][kPad1];  // As[k][m]
  __shared__ __align__(16) float Bs[kK1][kPad1];  // Bs[k][n]
  const int tid = threadIdx.x, ty = tid / 16, tx = tid % 16;
  const int64_t m0 = (int64_t)blockIdx.y * kTile, n0 = (int64_t)blockIdx.x * kTile;
  float acc[4][4] = {};
  for (int64_t k0 = 0; k0 < K; k0 += kK1) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int e = tid + r * kThreads1;  // 0 .. 511 over the 64 x 8 tiles
      const int am = ta ? e % kTile : e / kK1, ak = ta ? e / kTile : e % kK1;
      As[ak][am] = load_a(A, lda, ta, M, K, m0 + am, k0 + ak);
      const int bn = tb ? e / kK1 : e % kTile, bk = tb ? e % kK1 : e / kTile;
      Bs[bk][bn] = load_b(B, ldb, tb, K, N, k0 + bk, n0 + bn);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kK1; ++kk) {
      const float4 a = *reinterpret_cast<const float4*>(&As[kk][ty * 4]);
      const float4 b = *reinterpret_cast<const float4*>(&Bs[kk][tx * 4]);
      const float av[4] = {a.x, a.y, a.z, a.w}, bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t m = m0 + ty * 4 + i;
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t n = n0 + tx * 4 + j;
      if (n < N) store_c(C, ldc, m, n, acc[i][j], alpha, beta);
    }
  }
}

__global__ void __launch_bounds__(kThreads2)
    gemm_tf32_kernel(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                     const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  namespace wmma = nvcuda::wmma;
  // As (64, kLdA2) [m][k] and Bs (kK2, kLdB2) [k][n] during the K loop; Cs (64, kLdC2) after it.
  constexpr int kAsSize = kTile * kLdA2, kBsSize = kK2 * kLdB2, kCsSize = kTile * kLdC2;
  constexpr int kSmem = kAsSize + kBsSize > kCsSize ? kAsSize + kBsSize : kCsSize;
  __shared__ __align__(128) float smem[kSmem];
  float* As = smem;
  float* Bs = smem + kAsSize;  // kAsSize * 4 bytes is a multiple of 32: wmma's 256-bit alignment
  float* Cs = smem;
  const int tid = threadIdx.x, warp = tid / 32;
  const int wm = (warp / 2) * 32, wn = (warp % 2) * 32;  // this warp's 32 x 32 corner of the tile
  const int64_t m0 = (int64_t)blockIdx.y * kTile, n0 = (int64_t)blockIdx.x * kTile;
  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.f);
  for (int64_t k0 = 0; k0 < K; k0 += kK2) {
#pragma unroll 4
    for (int r = 0; r < kTile * kK2 / kThreads2; ++r) {
      const int e = tid + r * kThreads2;  // 0 .. 2047 over the 64 x 32 tiles
      const int am = ta ? e % kTile : e / kK2, ak = ta ? e / kTile : e % kK2;
      As[am * kLdA2 + ak] = load_a(A, lda, ta, M, K, m0 + am, k0 + ak);
      const int bn = tb ? e / kK2 : e % kTile, bk = tb ? e % kK2 : e / kTile;
      Bs[bk * kLdB2 + bn] = load_b(B, ldb, tb, K, N, k0 + bk, n0 + bn);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kK2; kk += 8) {
      wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> a[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> b[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        wmma::load_matrix_sync(a[i], As + (wm + 16 * i) * kLdA2 + kk, kLdA2);
#pragma unroll
        for (int t = 0; t < a[i].num_elements; ++t) a[i].x[t] = wmma::__float_to_tf32(a[i].x[t]);
        wmma::load_matrix_sync(b[i], Bs + kk * kLdB2 + wn + 16 * i, kLdB2);
#pragma unroll
        for (int t = 0; t < b[i].num_elements; ++t) b[i].x[t] = wmma::__float_to_tf32(b[i].x[t]);
      }
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j)
      wmma::store_matrix_sync(Cs + (wm + 16 * i) * kLdC2 + wn + 16 * j, acc[i][j], kLdC2, wmma::mem_row_major);
  __syncthreads();
  for (int e = tid; e < kTile * kTile; e += kThreads2) {
    const int r = e / kTile, c = e % kTile;
    const int64_t m = m0 + r, n = n0 + c;
    if (m < M && n < N) store_c(C, ldc, m, n, Cs[r * kLdC2 + c], alpha, beta);
  }
}

// gemm_tf32_kernel's tiling with bf16 operands: As (64, kLdA3) [m][k] and Bs (kK2, kLdB3) [k][n] bf16 during
// the K loop (every fragment pointer a multiple of 16 elements, 32 bytes, from a 32-byte aligned
// array start), Cs (64, kLdC2) fp32 after it. sm_80+: the host dispatches only there.
__global__ void __launch_bounds__(kThreads2)
    gemm_bf16_kernel(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                     const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
#if __CUDA_ARCH__ >= 800
  namespace wmma = nvcuda::wmma;
  constexpr int kAsBytes = kTile * kLdA3 * 2, kBsBytes = kK2 * kLdB3 * 2, kCsBytes = kTile * kLdC2 * 4;
  constexpr int kSmemBytes = kAsBytes + kBsBytes > kCsBytes ? kAsBytes + kBsBytes : kCsBytes;
  static_assert(kAsBytes % 32 == 0 && kLdA3 % 8 == 0 && kLdB3 % 8 == 0, "wmma alignment");
  __shared__ __align__(128) unsigned char smem[kSmemBytes];
  __nv_bfloat16* As = reinterpret_cast<__nv_bfloat16*>(smem);
  __nv_bfloat16* Bs = reinterpret_cast<__nv_bfloat16*>(smem + kAsBytes);
  float* Cs = reinterpret_cast<float*>(smem);
  const int tid = threadIdx.x, warp = tid / 32;
  const int wm = (warp / 2) * 32, wn = (warp % 2) * 32;  // this warp's 32 x 32 corner of the tile
  const int64_t m0 = (int64_t)blockIdx.y * kTile, n0 = (int64_t)blockIdx.x * kTile;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.f);
  for (int64_t k0 = 0; k0 < K; k0 += kK2) {
#pragma unroll 4
    for (int r = 0; r < kTile * kK2 / kThreads2; ++r) {
      const int e = tid + r * kThreads2;  // 0 .. 2047 over the 64 x 32 tiles
      const int am = ta ? e % kTile : e / kK2, ak = ta ? e / kTile : e % kK2;
      As[am * kLdA3 + ak] = __float2bfloat16_rn(load_a(A, lda, ta, M, K, m0 + am, k0 + ak));
      const int bn = tb ? e / kK2 : e % kTile, bk = tb ? e % kK2 : e / kTile;
      Bs[bk * kLdB3 + bn] = __float2bfloat16_rn(load_b(B, ldb, tb, K, N, k0 + bk, n0 + bn));
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kK2; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> b[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        wmma::load_matrix_sync(a[i], As + (wm + 16 * i) * kLdA3 + kk, kLdA3);
        wmma::load_matrix_sync(b[i], Bs + kk * kLdB3 + wn + 16 * i, kLdB3);
      }
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j)
      wmma::store_matrix_sync(Cs + (wm + 16 * i) * kLdC2 + wn + 16 * j, acc[i][j], kLdC2, wmma::mem_row_major);
  __syncthreads();
  for (int e = tid; e < kTile * kTile; e += kThreads2) {
    const int r = e / kTile, c = e % kTile;
    const int64_t m = m0 + r, n = n0 + c;
    if (m < M && n < N) store_c(C, ldc, m, n, Cs[r * kLdC2 + c], alpha, beta);
  }
#else
  __trap();  // bf16 tensor cores need sm_80; the host dispatches only there
#endif
}

// Tensor cores take bf16 from sm_80 on; below that Bf16 quietly means fp32 (as conv2d.cu).
bool bf16_supported() {
  int dev = 0, major = 0;
  LB_CUDA_CHECK(cudaGetDevice(&dev));
  LB_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
  return major >= 8;
}

// y (N, OUT): every row starts as the bias (the GEMM then adds x W^T with beta = 1).
__global__ void bias_rows_kernel(const float* bias, float* y, int64_t N, int64_t OUT) {
  const int64_t total = N * OUT;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x)
    y[e] = bias[e % OUT];
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc, MathMode mode) {
  if (M == 0 || N == 0) return;
  const int64_t gy = (M + kTile - 1) / kTile, gx = (N + kTile - 1) / kTile;
  LB_CHECK(gy <= 65535 && gx <= 2147483647LL, "gemm: M = " << M << " needs more than 65535 row tiles");
  const dim3 grid(static_cast<unsigned>(gx), static_cast<unsigned>(gy));
  const cudaStream_t st = cuda_stream();
  if (mode == MathMode::Bf16 && bf16_supported()) {
    gemm_bf16_kernel<<<grid, kThreads2, 0, st>>>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    LB_CUDA_CHECK_LAUNCH("gemm_bf16_kernel");
  } else if (mode == MathMode::Tf32) {
    gemm_tf32_kernel<<<grid, kThreads2, 0, st>>>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    LB_CUDA_CHECK_LAUNCH("gemm_tf32_kernel");
  } else {
    gemm_fp32_kernel<<<grid, kThreads1, 0, st>>>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    LB_CUDA_CHECK_LAUNCH("gemm_fp32_kernel");
  }
}

void linear_forward(int64_t N, int64_t IN, int64_t OUT, const float* x, const float* w, const float* bias, float* y,
                    MathMode mode) {
  if (N == 0 || OUT == 0) return;
  if (bias) {
    bias_rows_kernel<<<grid_for(N * OUT, 256, 1 << 20), 256, 0, cuda_stream()>>>(bias, y, N, OUT);
    LB_CUDA_CHECK_LAUNCH("bias_rows_kernel");
  }
  // (N, IN) x (OUT, IN)^T: W is stored OUT-major, so it enters transposed.
  gemm(false, true, N, OUT, IN, 1.f, x, IN, w, IN, bias ? 1.f : 0.f, y, OUT, mode);
}

void linear_backward_input(int64_t N, int64_t IN, int64_t OUT, const float* dy, const float* w, float* dx,
                           MathMode mode) {
  // dx (N, IN) = dy (N, OUT) x W (OUT, IN)
  gemm(false, false, N, IN, OUT, 1.f, dy, OUT, w, IN, 0.f, dx, IN, mode);
}

void linear_backward_weight(int64_t N, int64_t IN, int64_t OUT, const float* x, const float* dy, float* dw,
                            MathMode mode) {
  // dw (OUT, IN) = dy^T (OUT, N) x x (N, IN); N == 0 gives zeros (K = 0, beta = 0).
  gemm(true, false, OUT, IN, N, 1.f, dy, OUT, x, IN, 0.f, dw, IN, mode);
}

void linear_backward_bias(int64_t N, int64_t OUT, const float* dy, float* db) {
  // db (OUT): column sums of dy (N, OUT), in double (sum_axis over the middle axis of (1, N, OUT)).
  sum_axis(AxisShape{1, N, OUT}, dy, db, 1.f);
}

}  // namespace lb::kernels
