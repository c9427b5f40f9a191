// lab/pool2d.cu: variant 1 of max-pool and adaptive average pool (lab.cuh): the CPU loops of
// engine/cpu/pool2d.cc, one thread per output (forwards) or per input element (backwards, as
// gathers, so without atomics and in the CPU's summation order).
//
// Like every naive variant (lab.cuh): no tiling, no shared memory, no warp reductions, every
// operand read straight from global memory. These kernels define what a correct kernel computes
// (PyTorch's semantics, engine/cpu/*.h) in the fewest lines; the production kernels of
// kernels/pool2d.cu (custom-fp32) and cuDNN (cudnn-fp32) are checked against the same CPU
// reference. The average pool sums each bin in double, like the CPU.
//
// Shapes (letters of this file): max-pool x, dx (planes, H, W), y, dy and indices (planes, P, Q);
// adaptive average pool x, dx (planes, H, W), y, dy (planes, OH, OW).
#include <cfloat>

#include "lab/lab.cuh"
#include "lab/launch.cuh"

namespace lb::kernels::lab {

using detail::launch;
using detail::thread_index;

namespace {

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

void max_pool2d_forward1(const MaxPoolShape& s, const float* x, float* y, int64_t* indices, int block) {
  launch("max_pool2d_forward_kernel1", max_pool2d_forward_kernel1, s.planes * s.P * s.Q, block, s, x, y, indices);
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
