// lab/batch_norm2d.cu: variant 1 of batchnorm2d (lab.cuh): the training forward and the backward
// one thread per channel, the CPU loops of engine/cpu/batch_norm2d.cc statement for statement with
// their double sums; the eval forward one thread per element; and the add + ReLU epilogue that,
// after either forward, makes the naive form of the fused batch_norm2d_relu.
//
// Like every naive variant (lab.cuh): no tiling, no shared memory, no warp reductions, every
// operand read straight from global memory. These kernels define what a correct kernel computes
// (PyTorch's semantics, engine/cpu/*.h) in the fewest lines; the production kernels of
// kernels/batch_norm2d.cu (custom-fp32) and cuDNN (cudnn-fp32) are checked against the same CPU
// reference. The only differences from the CPU are float rounding order.
//
// Shapes (letters of this file): x, y, dy, dx, residual (N, C, HW); weight, bias, running_mean,
// running_var, mean, invstd, dweight, dbias (C).
#include "lab/lab.cuh"
#include "lab/launch.cuh"

namespace lb::kernels::lab {

using detail::launch;
using detail::thread_index;

namespace {

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

// One thread per channel: sum(dy) and sum(dy * (x - mean)) in double, then dx over the channel
// (cpu::batch_norm2d_backward, statement for statement).
__global__ void batch_norm2d_backward_kernel1(BatchNormShape s, const float* x, const float* dy, const float* mean,
                                              const float* invstd, const float* weight, float* dx, float* dweight,
                                              float* dbias, bool training) {
  const int64_t c = thread_index();
  if (c >= s.C) return;
  const double M = double(s.N * s.HW);
  const float m = mean[c];
  const double is = invstd[c];
  double sum_dy = 0.0, sum_dy_xmu = 0.0;
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t j = 0; j < s.HW; ++j) {
      const int64_t at = (n * s.C + c) * s.HW + j;
      sum_dy += dy[at];
      if (x) sum_dy_xmu += double(dy[at]) * double(x[at] - m);
    }
  const double sum_dy_xhat = sum_dy_xmu * is;
  if (dweight) dweight[c] = float(sum_dy_xhat);
  if (dbias) dbias[c] = float(sum_dy);
  if (!dx) return;
  const float k = float((weight ? double(weight[c]) : 1.0) * is);
  // Training: the gradient also flows through the batch mean and variance (the last two terms).
  const float mean_dy = training ? float(sum_dy / M) : 0.0f;
  const float coef = training ? float(sum_dy_xhat / M * is) : 0.0f;
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t j = 0; j < s.HW; ++j) {
      const int64_t at = (n * s.C + c) * s.HW + j;
      dx[at] = training ? k * (dy[at] - mean_dy - (x[at] - m) * coef) : k * dy[at];
    }
}

// One thread per element: y = (x - running_mean) * (invstd * weight) + bias. The first element of
// each channel also writes its invstd.
__global__ void batch_norm2d_forward_eval_kernel1(BatchNormShape s, const float* x, const float* weight,
                                                  const float* bias, const float* running_mean,
                                                  const float* running_var, float* y, float* invstd, float eps) {
  const int64_t i = thread_index();
  if (i >= s.N * s.C * s.HW) return;
  const int64_t c = (i / s.HW) % s.C;
  const double is = 1.0 / sqrt(double(running_var[c]) + double(eps));
  if (i < s.C * s.HW && i % s.HW == 0) invstd[c] = float(is);  // image 0, position 0 of channel c
  const float k = float(is * (weight ? double(weight[c]) : 1.0));
  y[i] = (x[i] - running_mean[c]) * k + (bias ? bias[c] : 0.0f);
}

__global__ void add_relu_inplace_kernel1(float* y, const float* residual, int64_t n) {
  const int64_t i = thread_index();
  if (i >= n) return;
  const float v = residual ? y[i] + residual[i] : y[i];
  y[i] = v > 0.0f ? v : 0.0f;
}

}  // namespace

void batch_norm2d_forward_train1(const BatchNormShape& s, const float* x, const float* weight, const float* bias,
                                 float* y, float* mean, float* invstd, float* running_mean, float* running_var,
                                 float eps, float momentum, int block) {
  LB_CHECK(s.N * s.HW > 1, "lab batch_norm2d_forward_train1: needs more than one value per channel");
  launch("batch_norm2d_forward_train_kernel1", batch_norm2d_forward_train_kernel1, s.C, block, s, x, weight, bias, y,
         mean, invstd, running_mean, running_var, eps, momentum);
}

void batch_norm2d_backward1(const BatchNormShape& s, const float* x, const float* dy, const float* mean,
                            const float* invstd, const float* weight, float* dx, float* dweight, float* dbias,
                            bool training, int block) {
  LB_CHECK(x || (!dweight && !training), "lab batch_norm2d_backward1: x is needed for dweight and in training");
  launch("batch_norm2d_backward_kernel1", batch_norm2d_backward_kernel1, s.C, block, s, x, dy, mean, invstd, weight, dx,
         dweight, dbias, training);
}

void batch_norm2d_forward_eval1(const BatchNormShape& s, const float* x, const float* weight, const float* bias,
                                const float* running_mean, const float* running_var, float* y, float* invstd, float eps,
                                int block) {
  launch("batch_norm2d_forward_eval_kernel1", batch_norm2d_forward_eval_kernel1, s.N * s.C * s.HW, block, s, x, weight,
         bias, running_mean, running_var, y, invstd, eps);
}

void add_relu_inplace1(float* y, const float* residual, int64_t n, int block) {
  launch("add_relu_inplace_kernel1", add_relu_inplace_kernel1, n, block, y, residual, n);
}

}  // namespace lb::kernels::lab
