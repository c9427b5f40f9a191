// lab/lab_kernels.cu: variant 1 of conv2d, batchnorm2d's training forward and max-pool forward:
// the CPU loop ported as is, one thread per output (the other ops': lab_kernels_norm_pool.cu,
// lab_kernels_ops.cu).
//
// These are the "before" pictures of the kernel lab (lab.cuh): no tiling, no shared memory, every
// operand read straight from global memory, float accumulation. They define what a correct
// kernel computes (PyTorch's semantics, engine/cpu/*.h) in the fewest lines.
//
// Shapes (letters of this file): conv x (N, C, H, W), w (K, C, R, S), y (N, K, P, Q);
// batchnorm x, y (N, C, HW) with per-channel vectors (C); max-pool x (planes, H, W), y and
// indices (planes, P, Q).
#include <cfloat>

#include "lab/lab.cuh"
#include "lab/launch.cuh"

namespace lb::kernels::lab {

using detail::blocks_for;
using detail::check_block;
using detail::cuda_stream;
using detail::thread_index;

namespace {

// One thread per y[n, k, p, q]: the seven nested loops of the definition, less the outer four.
__global__ void conv2d_forward_kernel1(Conv2dShape s, const float* x, const float* w, const float* bias, float* y) {
  const int64_t i = thread_index();
  if (i >= s.N * s.K * s.P * s.Q) return;
  const int64_t q = i % s.Q, p = (i / s.Q) % s.P, k = (i / (s.Q * s.P)) % s.K, n = i / (s.Q * s.P * s.K);
  float acc = bias ? bias[k] : 0.0f;
  for (int64_t c = 0; c < s.C; ++c)
    for (int64_t r = 0; r < s.R; ++r) {
      const int64_t h = p * s.stride + r - s.pad;
      if (h < 0 || h >= s.H) continue;
      for (int64_t t = 0; t < s.S; ++t) {
        const int64_t wc = q * s.stride + t - s.pad;
        if (wc < 0 || wc >= s.W) continue;
        acc += x[((n * s.C + c) * s.H + h) * s.W + wc] * w[((k * s.C + c) * s.R + r) * s.S + t];
      }
    }
  y[i] = acc;
}

// One thread per dx[n, c, h, w]: sums dy[n, k, p, q] * w[k, c, r, s] over every (k, r, s) whose
// output position p = (h + pad - r) / stride (q likewise) exists and divides exactly.
__global__ void conv2d_backward_input_kernel1(Conv2dShape s, const float* dy, const float* w, float* dx) {
  const int64_t i = thread_index();
  if (i >= s.N * s.C * s.H * s.W) return;
  const int64_t wc = i % s.W, h = (i / s.W) % s.H, c = (i / (s.W * s.H)) % s.C, n = i / (s.W * s.H * s.C);
  float acc = 0.0f;
  for (int64_t k = 0; k < s.K; ++k)
    for (int64_t r = 0; r < s.R; ++r) {
      const int64_t ph = h + s.pad - r;
      if (ph < 0 || ph % s.stride != 0 || ph / s.stride >= s.P) continue;
      const int64_t p = ph / s.stride;
      for (int64_t t = 0; t < s.S; ++t) {
        const int64_t qw = wc + s.pad - t;
        if (qw < 0 || qw % s.stride != 0 || qw / s.stride >= s.Q) continue;
        const int64_t q = qw / s.stride;
        acc += dy[((n * s.K + k) * s.P + p) * s.Q + q] * w[((k * s.C + c) * s.R + r) * s.S + t];
      }
    }
  dx[i] = acc;
}

// One thread per dw[k, c, r, s]: sums dy[n, k, p, q] * x[n, c, h, w] over the batch and outputs.
__global__ void conv2d_backward_weight_kernel1(Conv2dShape s, const float* x, const float* dy, float* dw) {
  const int64_t i = thread_index();
  if (i >= s.K * s.C * s.R * s.S) return;
  const int64_t t = i % s.S, r = (i / s.S) % s.R, c = (i / (s.S * s.R)) % s.C, k = i / (s.S * s.R * s.C);
  float acc = 0.0f;
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t p = 0; p < s.P; ++p) {
      const int64_t h = p * s.stride + r - s.pad;
      if (h < 0 || h >= s.H) continue;
      for (int64_t q = 0; q < s.Q; ++q) {
        const int64_t wc = q * s.stride + t - s.pad;
        if (wc < 0 || wc >= s.W) continue;
        acc += dy[((n * s.K + k) * s.P + p) * s.Q + q] * x[((n * s.C + c) * s.H + h) * s.W + wc];
      }
    }
  dw[i] = acc;
}

// One thread per channel: the CPU loop (engine/cpu/batch_norm2d.cc) with its double sums.
__global__ void batch_norm2d_forward_train_kernel1(BatchNormShape s, const float* x, const float* weight,
                                                   const float* bias, float* y, float* mean, float* invstd,
                                                   float* running_mean, float* running_var, float eps, float momentum) {
  const int64_t c = thread_index();
  if (c >= s.C) return;
  const int64_t M = s.N * s.HW;
  double sum = 0.0;
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t j = 0; j < s.HW; ++j) sum += x[(n * s.C + c) * s.HW + j];
  const double mu = sum / double(M);
  double sq = 0.0;
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t j = 0; j < s.HW; ++j) {
      const double d = x[(n * s.C + c) * s.HW + j] - mu;
      sq += d * d;
    }
  const double var = sq / double(M);
  const float is = static_cast<float>(1.0 / sqrt(var + double(eps)));
  const float g = weight ? weight[c] : 1.0f, b = bias ? bias[c] : 0.0f;
  const float m = static_cast<float>(mu);
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t j = 0; j < s.HW; ++j) {
      const int64_t at = (n * s.C + c) * s.HW + j;
      y[at] = (x[at] - m) * is * g + b;
    }
  mean[c] = m;
  invstd[c] = is;
  if (running_mean) {
    running_mean[c] = static_cast<float>((1.0 - momentum) * running_mean[c] + momentum * mu);
    running_var[c] = static_cast<float>((1.0 - momentum) * running_var[c] + momentum * var * M / double(M - 1));
  }
}

// One thread per output: the window's first maximum in row-major order; NaN wins.
__global__ void max_pool2d_forward_kernel1(MaxPoolShape s, const float* x, float* y, int64_t* indices) {
  const int64_t i = thread_index();
  if (i >= s.planes * s.P * s.Q) return;
  const int64_t q = i % s.Q, p = (i / s.Q) % s.P, plane = i / (s.Q * s.P);
  const float* in = x + plane * s.H * s.W;  // in: this plane, (H, W)
  float best = -INFINITY;
  int64_t arg = -1;
  for (int64_t r = 0; r < s.kernel; ++r) {
    const int64_t h = p * s.stride + r - s.padding;
    if (h < 0 || h >= s.H) continue;
    for (int64_t t = 0; t < s.kernel; ++t) {
      const int64_t w = q * s.stride + t - s.padding;
      if (w < 0 || w >= s.W) continue;
      const float v = in[h * s.W + w];
      if (arg < 0 || v > best || (isnan(v) && !isnan(best))) {
        best = v;
        arg = h * s.W + w;
      }
    }
  }
  y[i] = best;
  if (indices) indices[i] = arg;
}

}  // namespace

void conv2d_forward1(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y, int block) {
  check_block(block);
  const int64_t n = s.N * s.K * s.P * s.Q;
  if (n == 0) return;
  conv2d_forward_kernel1<<<blocks_for(n, block), block, 0, cuda_stream()>>>(s, x, w, bias, y);
  LB_CUDA_CHECK_LAUNCH("conv2d_forward_kernel1");
}

void conv2d_backward_input1(const Conv2dShape& s, const float* dy, const float* w, float* dx, int block) {
  check_block(block);
  const int64_t n = s.N * s.C * s.H * s.W;
  if (n == 0) return;
  conv2d_backward_input_kernel1<<<blocks_for(n, block), block, 0, cuda_stream()>>>(s, dy, w, dx);
  LB_CUDA_CHECK_LAUNCH("conv2d_backward_input_kernel1");
}

void conv2d_backward_weight1(const Conv2dShape& s, const float* x, const float* dy, float* dw, int block) {
  check_block(block);
  const int64_t n = s.K * s.C * s.R * s.S;
  if (n == 0) return;
  conv2d_backward_weight_kernel1<<<blocks_for(n, block), block, 0, cuda_stream()>>>(s, x, dy, dw);
  LB_CUDA_CHECK_LAUNCH("conv2d_backward_weight_kernel1");
}

void batch_norm2d_forward_train1(const BatchNormShape& s, const float* x, const float* weight, const float* bias,
                                 float* y, float* mean, float* invstd, float* running_mean, float* running_var,
                                 float eps, float momentum, int block) {
  check_block(block);
  LB_CHECK(s.N * s.HW > 1, "lab batch_norm2d_forward_train1: needs more than one value per channel");
  if (s.C == 0) return;
  batch_norm2d_forward_train_kernel1<<<blocks_for(s.C, block), block, 0, cuda_stream()>>>(
      s, x, weight, bias, y, mean, invstd, running_mean, running_var, eps, momentum);
  LB_CUDA_CHECK_LAUNCH("batch_norm2d_forward_train_kernel1");
}

void max_pool2d_forward1(const MaxPoolShape& s, const float* x, float* y, int64_t* indices, int block) {
  check_block(block);
  const int64_t n = s.planes * s.P * s.Q;
  if (n == 0) return;
  max_pool2d_forward_kernel1<<<blocks_for(n, block), block, 0, cuda_stream()>>>(s, x, y, indices);
  LB_CUDA_CHECK_LAUNCH("max_pool2d_forward_kernel1");
}

}  // namespace lb::kernels::lab
