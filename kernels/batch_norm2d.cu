// batch_norm2d.cu: batchnorm2d on the GPU, the same arithmetic as engine/cpu/batch_norm2d.cc.
//
// Shapes (the letters of this file): x, y, dy, dx, residual (N, C, HW), seen as N * C contiguous
// planes; weight, bias, running stats, mean, invstd and every per-channel workspace (C).
// M = N * HW values are normalised together in each channel.
//
// A channel's M values are split across S blocks (grid (S, C)): one block per channel leaves the
// card idle when C is small and M huge (ResNet's stem: C = 64, M = 128 * 112 * 112). Each block
// walks its share of the channel, writes one partial sum per statistic to a workspace, and a
// finalize kernel (one warp per channel) adds the S partials in a fixed order: deterministic, no
// atomics. Statistics accumulate in double, as the CPU does; the forward sums are shifted by the
// channel's first value (x - K), which keeps sum((x - K)^2) - sum(x - K)^2 / M free of the
// cancellation that E[x^2] - E[x]^2 suffers when the mean is large against the spread.
// Element-wise maps use __fmul_rn / __fadd_rn so that nvcc does not contract them into FMAs: the
// CPU build does not contract either, which makes y bit-identical to the CPU for the same stats.
//
// The fused BN + residual add + ReLU (batch_norm2d_relu) reuses every pass: its training forward
// is the two statistics kernels then bn_relu_kernel (normalise, add, ReLU in one pass) instead of
// bn_normalise_kernel; its backward is the backward's kernels instantiated with kMask, which read
// g = dy * (y > 0) in place of dy (so no masked copy of dy is ever written) and let the dx pass
// also write d_residual = g.
#include <cuda_runtime.h>

#include <cmath>

#include "kernels/batch_norm2d.cuh"
#include "kernels/common.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/reduce_impl.cuh"

namespace lb::kernels {

namespace {

using detail::block_sum;
using detail::cuda_stream;
using detail::DeviceBuffer;
using detail::grid_for;
using detail::warp_sum;

constexpr int kThreads = 256;            // threads of the walking kernels
constexpr int kMaxSplits = 1024;         // blocks per channel at most
constexpr int64_t kTargetBlocks = 4096;  // aim for this many blocks in total over all channels

// Blocks per channel: enough to fill the card when C is small, never fewer than ~4 elements per
// thread (the partial sums then cost more than the reading), never more than kMaxSplits.
int splits_for(int64_t M, int64_t C) {
  int64_t s = (M + kThreads * 4 - 1) / (kThreads * 4);
  const int64_t by_blocks = (kTargetBlocks + C - 1) / C;
  if (s > by_blocks) s = by_blocks;
  if (s > kMaxSplits) s = kMaxSplits;
  return static_cast<int>(s < 1 ? 1 : s);
}

dim3 walk_grid(int S, int64_t C) { return dim3(static_cast<unsigned>(S), grid_for(C, 1)); }

// Calls f(offset) for the values m = start, start + stride, ... < N * HW of channel c, where value
// m is (n, i) = (m / HW, m % HW) at offset (n * C + c) * HW + i. (n, i) advance by (stride / HW,
// stride % HW) with one carry, so the loop has no division. Offsets and HW may be in floats or,
// for the vectorised kernel, in float4 units.
template <class F>
__device__ __forceinline__ void walk_channel(int64_t N, int64_t C, int64_t HW, int64_t c, int64_t start, int64_t stride,
                                             F f) {
  int64_t n = start / HW, i = start - n * HW;
  const int64_t dn = stride / HW, di = stride - dn * HW;
  while (n < N) {
    f((n * C + c) * HW + i);
    i += di;
    n += dn;
    if (i >= HW) {
      i -= HW;
      ++n;
    }
  }
}

__device__ __forceinline__ int64_t walk_start() { return blockIdx.x * (int64_t)blockDim.x + threadIdx.x; }
__device__ __forceinline__ int64_t walk_stride() { return (int64_t)gridDim.x * blockDim.x; }

// part (C, S, 2): block (b, c) writes sum(x - K) and sum((x - K)^2) of its share of channel c,
// with K = x[n = 0, c, i = 0].
__global__ void bn_stats_partial_kernel(const float* x, int64_t N, int64_t C, int64_t HW, double* part) {
  __shared__ double scratch[2][32];
  const int S = gridDim.x;
  for (int64_t c = blockIdx.y; c < C; c += gridDim.y) {
    const double K = static_cast<double>(x[c * HW]);
    double s = 0.0, q = 0.0;
    walk_channel(N, C, HW, c, walk_start(), walk_stride(), [&](int64_t off) {
      const double d = static_cast<double>(x[off]) - K;
      s += d;
      q += d * d;
    });
    s = block_sum(s, scratch[0]);
    q = block_sum(q, scratch[1]);
    if (threadIdx.x == 0) {
      part[(c * S + blockIdx.x) * 2] = s;
      part[(c * S + blockIdx.x) * 2 + 1] = q;
    }
    __syncthreads();  // scratch is reused by the next channel
  }
}

// One warp per channel: adds the S partials, writes mean, invstd, the affine map (k, b) the
// normalise kernel applies, and updates the running statistics (unbiased variance).
__global__ void bn_stats_finalize_kernel(const float* x, const double* part, int S, int64_t N, int64_t C, int64_t HW,
                                         const float* weight, const float* bias, float eps, float momentum, float* mean,
                                         float* invstd, float* k, float* b, float* running_mean, float* running_var) {
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    double s = 0.0, q = 0.0;
    for (int j = threadIdx.x; j < S; j += 32) {
      s += part[(c * S + j) * 2];
      q += part[(c * S + j) * 2 + 1];
    }
    s = warp_sum(s);
    q = warp_sum(q);
    if (threadIdx.x == 0) {
      const double M = static_cast<double>(N * HW);
      const double d = s / M;  // mean - K
      const double var = fmax((q - s * d) / M, 0.0);
      const double m = static_cast<double>(x[c * HW]) + d;
      const double is = 1.0 / sqrt(var + static_cast<double>(eps));
      mean[c] = static_cast<float>(m);
      invstd[c] = static_cast<float>(is);
      const double w = weight ? static_cast<double>(weight[c]) : 1.0;
      k[c] = static_cast<float>(is * w);
      b[c] = bias ? bias[c] : 0.f;
      if (running_mean) {
        const double mom = static_cast<double>(momentum), keep = 1.0 - mom;
        running_mean[c] = static_cast<float>(keep * running_mean[c] + mom * m);
        running_var[c] = static_cast<float>(keep * running_var[c] + mom * var * M / (M - 1.0));
      }
    }
  }
}

// y = (x - m[c]) * k[c] + b[c] over the (S, C) walking grid.
__global__ void bn_normalise_kernel(const float* x, int64_t N, int64_t C, int64_t HW, const float* m, const float* k,
                                    const float* b, float* y) {
  for (int64_t c = blockIdx.y; c < C; c += gridDim.y) {
    const float mc = m[c], kc = k[c], bc = b[c];
    walk_channel(N, C, HW, c, walk_start(), walk_stride(),
                 [&](int64_t off) { y[off] = __fadd_rn(__fmul_rn(__fsub_rn(x[off], mc), kc), bc); });
  }
}

// Eval statistics, one thread per channel: invstd = 1 / sqrt(running_var + eps) (written when
// invstd is not null), k = invstd * weight and b = bias, in double like the CPU.
__global__ void bn_eval_params_kernel(int64_t C, const float* weight, const float* bias, const float* running_var,
                                      float eps, float* invstd, float* k, float* b) {
  for (int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; c < C; c += (int64_t)gridDim.x * blockDim.x) {
    const double is = 1.0 / sqrt(static_cast<double>(running_var[c]) + static_cast<double>(eps));
    if (invstd) invstd[c] = static_cast<float>(is);
    const double w = weight ? static_cast<double>(weight[c]) : 1.0;
    k[c] = static_cast<float>(is * w);
    b[c] = bias ? bias[c] : 0.f;
  }
}

__device__ __forceinline__ float bn_relu1(float x, float r, float m, float k, float b, bool has_res) {
  float t = __fadd_rn(__fmul_rn(__fsub_rn(x, m), k), b);
  if (has_res) t = __fadd_rn(t, r);
  return t > 0.f ? t : 0.f;  // relu as the CPU writes it: NaN gives 0
}

// y = relu((x - m) * k + b + residual), walking float4 units (HW4 = HW / 4 per plane) when
// kVec4, floats otherwise. residual may be null. (m, k, b) are the running statistics' map in
// eval and the batch statistics' map in training.
template <bool kVec4>
__global__ void bn_relu_kernel(const float* x, const float* residual, int64_t N, int64_t C, int64_t HWu, const float* m,
                               const float* k, const float* b, float* y) {
  const bool has_res = residual != nullptr;
  for (int64_t c = blockIdx.y; c < C; c += gridDim.y) {
    const float mc = m[c], kc = k[c], bc = b[c];
    walk_channel(N, C, HWu, c, walk_start(), walk_stride(), [&](int64_t off) {
      if constexpr (kVec4) {
        const float4 v = reinterpret_cast<const float4*>(x)[off];
        float4 r = make_float4(0.f, 0.f, 0.f, 0.f);
        if (has_res) r = reinterpret_cast<const float4*>(residual)[off];
        float4 o;
        o.x = bn_relu1(v.x, r.x, mc, kc, bc, has_res);
        o.y = bn_relu1(v.y, r.y, mc, kc, bc, has_res);
        o.z = bn_relu1(v.z, r.z, mc, kc, bc, has_res);
        o.w = bn_relu1(v.w, r.w, mc, kc, bc, has_res);
        reinterpret_cast<float4*>(y)[off] = o;
      } else {
        y[off] = bn_relu1(x[off], has_res ? residual[off] : 0.f, mc, kc, bc, has_res);
      }
    });
  }
}

// The gradient at the BatchNorm's output: dy, or with kMask the ReLU's backward dy * (y > 0),
// written as relu_backward writes it (y > 0 ? dy : 0).
template <bool kMask>
__device__ __forceinline__ float bn_grad(const float* dy, const float* y, int64_t off) {
  if constexpr (kMask) return y[off] > 0.f ? dy[off] : 0.f;
  return dy[off];
}

// part (C, S, 2): sum(g) and, when need_dot, sum(g * (x - mean)) of block (b, c)'s share, with
// g = bn_grad<kMask>: dy, or dy * (y > 0) for the fused op (y null unless kMask).
template <bool kMask>
__global__ void bn_backward_partial_kernel(const float* x, const float* dy, const float* y, const float* mean,
                                           bool need_dot, int64_t N, int64_t C, int64_t HW, double* part) {
  __shared__ double scratch[2][32];
  const int S = gridDim.x;
  for (int64_t c = blockIdx.y; c < C; c += gridDim.y) {
    const float mc = mean[c];
    double s = 0.0, q = 0.0;
    walk_channel(N, C, HW, c, walk_start(), walk_stride(), [&](int64_t off) {
      const double g = static_cast<double>(bn_grad<kMask>(dy, y, off));
      s += g;
      if (need_dot) q += g * static_cast<double>(__fsub_rn(x[off], mc));
    });
    s = block_sum(s, scratch[0]);
    q = block_sum(q, scratch[1]);
    if (threadIdx.x == 0) {
      part[(c * S + blockIdx.x) * 2] = s;
      part[(c * S + blockIdx.x) * 2 + 1] = q;
    }
    __syncthreads();
  }
}

// One warp per channel: dweight, dbias, and the dx coefficients k = weight * invstd,
// mean_dy = sum(dy) / M, coef = sum(dy * xhat) / M * invstd (S may be 0: no sums were taken).
__global__ void bn_backward_finalize_kernel(const double* part, int S, int64_t M, int64_t C, const float* invstd,
                                            const float* weight, float* dweight, float* dbias, float* k, float* mean_dy,
                                            float* coef) {
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    double s = 0.0, q = 0.0;
    for (int j = threadIdx.x; j < S; j += 32) {
      s += part[(c * S + j) * 2];
      q += part[(c * S + j) * 2 + 1];
    }
    s = warp_sum(s);
    q = warp_sum(q);
    if (threadIdx.x == 0) {
      const double is = static_cast<double>(invstd[c]);
      const double sum_dy_xhat = q * is;
      if (dweight) dweight[c] = static_cast<float>(sum_dy_xhat);
      if (dbias) dbias[c] = static_cast<float>(s);
      const double w = weight ? static_cast<double>(weight[c]) : 1.0;
      k[c] = static_cast<float>(w * is);
      mean_dy[c] = static_cast<float>(s / static_cast<double>(M));
      coef[c] = static_cast<float>(sum_dy_xhat / static_cast<double>(M) * is);
    }
  }
}

// training: dx = k * (g - mean_g - (x - mean) * coef); frozen: dx = k * g (x not read), with
// g = bn_grad<kMask>. Without kMask g is dy and dx is always written; with kMask dx and dres may
// each be null, and dres = g.
template <bool kTraining, bool kMask>
__global__ void bn_backward_dx_kernel(const float* x, const float* dy, const float* y, const float* mean,
                                      const float* k, const float* mean_dy, const float* coef, int64_t N, int64_t C,
                                      int64_t HW, float* dx, float* dres) {
  for (int64_t c = blockIdx.y; c < C; c += gridDim.y) {
    const float kc = k[c];
    if constexpr (kTraining) {
      const float mc = mean[c], mdy = mean_dy[c], cc = coef[c];
      walk_channel(N, C, HW, c, walk_start(), walk_stride(), [&](int64_t off) {
        const float g = bn_grad<kMask>(dy, y, off);
        if (kMask && dres) dres[off] = g;
        if (!kMask || dx) dx[off] = __fmul_rn(kc, __fsub_rn(__fsub_rn(g, mdy), __fmul_rn(__fsub_rn(x[off], mc), cc)));
      });
    } else {
      walk_channel(N, C, HW, c, walk_start(), walk_stride(), [&](int64_t off) {
        const float g = bn_grad<kMask>(dy, y, off);
        if (kMask && dres) dres[off] = g;
        if (!kMask || dx) dx[off] = __fmul_rn(kc, g);
      });
    }
  }
}

// y = relu((x - m) * k + b + residual) over the (S, C) walking grid, float4 units when every
// pointer is 16-byte aligned and HW % 4 == 0.
void launch_bn_relu(const BatchNormShape& s, const float* x, const float* residual, const float* m, const float* k,
                    const float* b, float* y, cudaStream_t st) {
  auto aligned = [](const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; };
  const bool vec4 = s.HW % 4 == 0 && aligned(x) && aligned(y) && (!residual || aligned(residual));
  if (vec4) {
    const int64_t HW4 = s.HW / 4;
    bn_relu_kernel<true>
        <<<walk_grid(splits_for(s.N * HW4, s.C), s.C), kThreads, 0, st>>>(x, residual, s.N, s.C, HW4, m, k, b, y);
    LB_CUDA_CHECK_LAUNCH("bn_relu_kernel<float4>");
  } else {
    bn_relu_kernel<false>
        <<<walk_grid(splits_for(s.N * s.HW, s.C), s.C), kThreads, 0, st>>>(x, residual, s.N, s.C, s.HW, m, k, b, y);
    LB_CUDA_CHECK_LAUNCH("bn_relu_kernel<float>");
  }
}

// The statistics passes of the training forward: part sums, then mean, invstd, the affine map
// (k, b) and the running statistics. k and b (C) live in the caller's workspace.
void bn_train_stats(const BatchNormShape& s, const float* x, const float* weight, const float* bias, float* mean,
                    float* invstd, float* running_mean, float* running_var, float eps, float momentum, double* part,
                    int S, float* k, float* b, cudaStream_t st) {
  bn_stats_partial_kernel<<<walk_grid(S, s.C), kThreads, 0, st>>>(x, s.N, s.C, s.HW, part);
  LB_CUDA_CHECK_LAUNCH("bn_stats_partial_kernel");
  bn_stats_finalize_kernel<<<grid_for(s.C, 1), 32, 0, st>>>(x, part, S, s.N, s.C, s.HW, weight, bias, eps, momentum,
                                                            mean, invstd, k, b, running_mean, running_var);
  LB_CUDA_CHECK_LAUNCH("bn_stats_finalize_kernel");
}

// Both backwards. kMask: the fused op's (y given, g = dy * (y > 0), dres = g when not null);
// otherwise batch_norm2d's (y and dres null).
template <bool kMask>
void bn_backward_impl(const BatchNormShape& s, const float* x, const float* y, const float* dy, const float* mean,
                      const float* invstd, const float* weight, float* dx, float* dweight, float* dbias, float* dres,
                      bool training) {
  const int64_t M = s.N * s.HW;
  if (s.C == 0) return;
  const bool need_dot = dweight || (dx && training);
  const bool need_sum = dbias || (dx && training);
  const bool reduce = (need_dot || need_sum) && M > 0;
  const int S = reduce ? splits_for(M, s.C) : 0;
  const size_t part_bytes = static_cast<size_t>(s.C) * S * 2 * sizeof(double);
  DeviceBuffer ws(part_bytes + 3 * static_cast<size_t>(s.C) * sizeof(float));
  double* part = ws.as<double>();
  float* k = ws.as<float>(part_bytes);
  float* mean_dy = k + s.C;
  float* coef = mean_dy + s.C;
  const cudaStream_t st = cuda_stream();
  if (reduce) {
    bn_backward_partial_kernel<kMask>
        <<<walk_grid(S, s.C), kThreads, 0, st>>>(x, dy, y, mean, need_dot, s.N, s.C, s.HW, part);
    LB_CUDA_CHECK_LAUNCH("bn_backward_partial_kernel");
  }
  // With M == 0 the sums are empty: dweight = dbias = 0, as the CPU writes.
  bn_backward_finalize_kernel<<<grid_for(s.C, 1), 32, 0, st>>>(part, S, M, s.C, invstd, weight, dweight, dbias, k,
                                                               mean_dy, coef);
  LB_CUDA_CHECK_LAUNCH("bn_backward_finalize_kernel");
  if ((!dx && !dres) || M == 0) return;
  const dim3 grid = walk_grid(splits_for(M, s.C), s.C);
  if (training) {
    bn_backward_dx_kernel<true, kMask>
        <<<grid, kThreads, 0, st>>>(x, dy, y, mean, k, mean_dy, coef, s.N, s.C, s.HW, dx, dres);
    LB_CUDA_CHECK_LAUNCH("bn_backward_dx_kernel<training>");
  } else {
    bn_backward_dx_kernel<false, kMask>
        <<<grid, kThreads, 0, st>>>(x, dy, y, mean, k, mean_dy, coef, s.N, s.C, s.HW, dx, dres);
    LB_CUDA_CHECK_LAUNCH("bn_backward_dx_kernel<frozen>");
  }
}

// The forward passes share everything but their last launch: the training statistics (or the
// eval-mode per-channel parameters) give y = k x + b per channel, and `normalise(k, b, mean, st)`
// writes y (plain, or + residual and ReLU). The workspace is freed after the launch is queued,
// which the single-stream allocator allows (kernels/runtime.cuh).
template <class Normalise>
void bn_forward_train_then(const BatchNormShape& s, const float* x, const float* weight, const float* bias, float* mean,
                           float* invstd, float* running_mean, float* running_var, float eps, float momentum,
                           Normalise normalise) {
  const int64_t M = s.N * s.HW;
  if (s.C == 0 || M == 0) return;
  const int S = splits_for(M, s.C);
  // part (C, S, 2) doubles, then k and b (C) floats.
  const size_t part_bytes = static_cast<size_t>(s.C) * S * 2 * sizeof(double);
  DeviceBuffer ws(part_bytes + 2 * static_cast<size_t>(s.C) * sizeof(float));
  double* part = ws.as<double>();
  float* k = ws.as<float>(part_bytes);
  float* b = k + s.C;
  const cudaStream_t st = cuda_stream();
  bn_train_stats(s, x, weight, bias, mean, invstd, running_mean, running_var, eps, momentum, part, S, k, b, st);
  normalise(k, b, mean, st);
}

// Eval: invstd is written even when there is nothing to normalise (the backward reads it).
template <class Normalise>
void bn_forward_eval_then(const BatchNormShape& s, const float* weight, const float* bias, const float* running_mean,
                          const float* running_var, float* invstd, float eps, Normalise normalise) {
  if (s.C == 0) return;
  DeviceBuffer ws(2 * static_cast<size_t>(s.C) * sizeof(float));
  float* k = ws.as<float>();
  float* b = k + s.C;
  const cudaStream_t st = cuda_stream();
  bn_eval_params_kernel<<<grid_for(s.C, 128), 128, 0, st>>>(s.C, weight, bias, running_var, eps, invstd, k, b);
  LB_CUDA_CHECK_LAUNCH("bn_eval_params_kernel");
  if (s.N * s.HW == 0) return;
  normalise(k, b, running_mean, st);
}

// y = k x + b, per channel.
void launch_bn_normalise(const BatchNormShape& s, const float* x, const float* mean, const float* k, const float* b,
                         float* y, cudaStream_t st) {
  bn_normalise_kernel<<<walk_grid(splits_for(s.N * s.HW, s.C), s.C), kThreads, 0, st>>>(x, s.N, s.C, s.HW, mean, k, b,
                                                                                        y);
  LB_CUDA_CHECK_LAUNCH("bn_normalise_kernel");
}

}  // namespace

void batch_norm2d_forward_train(const BatchNormShape& s, const float* x, const float* weight, const float* bias,
                                float* y, float* mean, float* invstd, float* running_mean, float* running_var,
                                float eps, float momentum) {
  bn_forward_train_then(s, x, weight, bias, mean, invstd, running_mean, running_var, eps, momentum,
                        [&](const float* k, const float* b, const float* m, cudaStream_t st) {
                          launch_bn_normalise(s, x, m, k, b, y, st);
                        });
}

void batch_norm2d_forward_eval(const BatchNormShape& s, const float* x, const float* weight, const float* bias,
                               const float* running_mean, const float* running_var, float* y, float* invstd,
                               float eps) {
  bn_forward_eval_then(s, weight, bias, running_mean, running_var, invstd, eps,
                       [&](const float* k, const float* b, const float* m, cudaStream_t st) {
                         launch_bn_normalise(s, x, m, k, b, y, st);
                       });
}

void batch_norm2d_backward(const BatchNormShape& s, const float* x, const float* dy, const float* mean,
                           const float* invstd, const float* weight, float* dx, float* dweight, float* dbias,
                           bool training) {
  bn_backward_impl<false>(s, x, nullptr, dy, mean, invstd, weight, dx, dweight, dbias, nullptr, training);
}

// ---- fused BN + residual add + ReLU ----------------------------------------------------------------

void batch_norm2d_relu_forward_train(const BatchNormShape& s, const float* x, const float* weight, const float* bias,
                                     const float* residual, float* y, float* mean, float* invstd, float* running_mean,
                                     float* running_var, float eps, float momentum) {
  bn_forward_train_then(s, x, weight, bias, mean, invstd, running_mean, running_var, eps, momentum,
                        [&](const float* k, const float* b, const float* m, cudaStream_t st) {
                          launch_bn_relu(s, x, residual, m, k, b, y, st);
                        });
}

void batch_norm2d_relu_forward_eval(const BatchNormShape& s, const float* x, const float* weight, const float* bias,
                                    const float* running_mean, const float* running_var, const float* residual,
                                    float* y, float* invstd, float eps) {
  bn_forward_eval_then(s, weight, bias, running_mean, running_var, invstd, eps,
                       [&](const float* k, const float* b, const float* m, cudaStream_t st) {
                         launch_bn_relu(s, x, residual, m, k, b, y, st);
                       });
}

void batch_norm2d_relu_backward(const BatchNormShape& s, const float* x, const float* y, const float* dy,
                                const float* mean, const float* invstd, const float* weight, float* dx, float* dweight,
                                float* dbias, float* dresidual, bool training) {
  bn_backward_impl<true>(s, x, y, dy, mean, invstd, weight, dx, dweight, dbias, dresidual, training);
}

}  // namespace lb::kernels
