// lab/lab_kernels_norm_pool.cu: variant 1 of the batchnorm2d and pooling directions that
// lab_kernels.cu does not hold: the CPU loops of engine/cpu/batch_norm2d.cc and pool2d.cc ported
// as they are, one thread per output (per channel where the CPU loop reduces a channel).
//
// Like lab_kernels.cu: no shared memory, no warp reductions, every operand read from global memory.
// Sums are accumulated the way the CPU loop accumulates them (double per channel in batchnorm and
// per bin in the average pool), so the only differences from the CPU are float rounding order.
//
// Shapes (letters of this file): batchnorm x, y, dy, dx (N, C, HW) with per-channel vectors (C);
// max-pool x, dx (planes, H, W), dy and indices (planes, P, Q); adaptive average pool x, dx
// (planes, H, W), y, dy (planes, OH, OW).
#include "lab/lab.cuh"
#include "lab/launch.cuh"

namespace lb::kernels::lab {

using detail::launch;
using detail::thread_index;

namespace {

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

// One thread per dx[plane, h, w]: the sum of dy over the outputs whose window holds (h, w) and
// whose saved index is (h, w). A gather, not the CPU's scatter (dx[indices] += dy): no atomics, no
// zeroing pass, deterministic, and the outputs are visited in the CPU's order (p, then q,
// ascending), so each sum is rounded exactly as the CPU rounds it.
__global__ void max_pool2d_backward_kernel1(MaxPoolShape s, const float* dy, const int64_t* indices, float* dx) {
  const int64_t i = thread_index();
  if (i >= s.planes * s.H * s.W) return;
  const int64_t w = i % s.W, h = (i / s.W) % s.H, plane = i / (s.W * s.H);
  const float* g = dy + plane * s.P * s.Q;           // (P, Q)
  const int64_t* idx = indices + plane * s.P * s.Q;  // (P, Q)
  // Window p covers rows [p * stride - padding, p * stride - padding + kernel): those holding h.
  const int64_t p_lo = h + s.padding < s.kernel ? 0 : (h + s.padding - s.kernel) / s.stride + 1;
  const int64_t p_hi = min(s.P - 1, (h + s.padding) / s.stride);
  const int64_t q_lo = w + s.padding < s.kernel ? 0 : (w + s.padding - s.kernel) / s.stride + 1;
  const int64_t q_hi = min(s.Q - 1, (w + s.padding) / s.stride);
  float acc = 0.0f;
  for (int64_t p = p_lo; p <= p_hi; ++p)
    for (int64_t q = q_lo; q <= q_hi; ++q)
      if (idx[p * s.Q + q] == h * s.W + w) acc += g[p * s.Q + q];
  dx[i] = acc;
}

// cpu::adaptive_bin_start / adaptive_bin_end (engine/cpu/pool2d.h) on the device: bin i of `out`
// over an axis of `in` is [floor(i * in / out), ceil((i + 1) * in / out)).
__device__ int64_t bin_start(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
__device__ int64_t bin_end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }

// One thread per y[plane, i, j]: the mean of its bin, summed in double like the CPU.
__global__ void adaptive_avg_pool2d_forward_kernel1(AvgPoolShape s, const float* x, float* y) {
  const int64_t o = thread_index();
  if (o >= s.planes * s.OH * s.OW) return;
  const int64_t j = o % s.OW, i = (o / s.OW) % s.OH, plane = o / (s.OW * s.OH);
  const int64_t h_lo = bin_start(i, s.H, s.OH), h_hi = bin_end(i, s.H, s.OH);
  const int64_t w_lo = bin_start(j, s.W, s.OW), w_hi = bin_end(j, s.W, s.OW);
  double sum = 0.0;
  for (int64_t h = h_lo; h < h_hi; ++h)
    for (int64_t w = w_lo; w < w_hi; ++w) sum += x[(plane * s.H + h) * s.W + w];
  y[o] = float(sum / double((h_hi - h_lo) * (w_hi - w_lo)));
}

// One thread per dx[plane, h, w]: dy / bin size summed over the bins that hold (h, w) (bins
// overlap when OH does not divide H). A gather in the CPU's bin order: the same sums, no atomics.
__global__ void adaptive_avg_pool2d_backward_kernel1(AvgPoolShape s, const float* dy, float* dx) {
  const int64_t x = thread_index();
  if (x >= s.planes * s.H * s.W) return;
  const int64_t w = x % s.W, h = (x / s.W) % s.H, plane = x / (s.W * s.H);
  float acc = 0.0f;
  for (int64_t i = 0; i < s.OH; ++i) {
    const int64_t h_lo = bin_start(i, s.H, s.OH), h_hi = bin_end(i, s.H, s.OH);
    if (h < h_lo || h >= h_hi) continue;
    for (int64_t j = 0; j < s.OW; ++j) {
      const int64_t w_lo = bin_start(j, s.W, s.OW), w_hi = bin_end(j, s.W, s.OW);
      if (w < w_lo || w >= w_hi) continue;
      acc += dy[(plane * s.OH + i) * s.OW + j] / float((h_hi - h_lo) * (w_hi - w_lo));
    }
  }
  dx[x] = acc;
}

}  // namespace

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

void max_pool2d_backward1(const MaxPoolShape& s, const float* dy, const int64_t* indices, float* dx, int block) {
  launch("max_pool2d_backward_kernel1", max_pool2d_backward_kernel1, s.planes * s.H * s.W, block, s, dy, indices, dx);
}

void adaptive_avg_pool2d_forward1(const AvgPoolShape& s, const float* x, float* y, int block) {
  launch("adaptive_avg_pool2d_forward_kernel1", adaptive_avg_pool2d_forward_kernel1, s.planes * s.OH * s.OW, block, s,
         x, y);
}

void adaptive_avg_pool2d_backward1(const AvgPoolShape& s, const float* dy, float* dx, int block) {
  launch("adaptive_avg_pool2d_backward_kernel1", adaptive_avg_pool2d_backward_kernel1, s.planes * s.H * s.W, block, s,
         dy, dx);
}

}  // namespace lb::kernels::lab
