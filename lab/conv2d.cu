// lab/conv2d.cu: variant 1 of conv2d's three directions (lab.cuh): the seven nested loops of the
// definition, one thread per output element, float accumulation.
//
// Like every naive variant (lab.cuh): no tiling, no shared memory, no warp reductions, every
// operand read straight from global memory. These kernels define what a correct kernel computes
// (PyTorch's semantics, engine/cpu/*.h) in the fewest lines; the production kernels of
// kernels/conv2d.cu (custom-*) and v2 (lab/conv2d_v2.cu) are checked against the same CPU reference.
//
// Shapes (letters of this file): x, dx (N, C, H, W), w, dw (K, C, R, S), y, dy (N, K, P, Q).
#include "lab/lab.cuh"
#include "lab/launch.cuh"

namespace lb::kernels::lab {

using detail::launch;
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

}  // namespace

void conv2d_forward1(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y, int block) {
  launch("conv2d_forward_kernel1", conv2d_forward_kernel1, s.N * s.K * s.P * s.Q, block, s, x, w, bias, y);
}

void conv2d_backward_input1(const Conv2dShape& s, const float* dy, const float* w, float* dx, int block) {
  launch("conv2d_backward_input_kernel1", conv2d_backward_input_kernel1, s.N * s.C * s.H * s.W, block, s, dy, w, dx);
}

void conv2d_backward_weight1(const Conv2dShape& s, const float* x, const float* dy, float* dw, int block) {
  launch("conv2d_backward_weight_kernel1", conv2d_backward_weight_kernel1, s.K * s.C * s.R * s.S, block, s, x, dy, dw);
}

}  // namespace lb::kernels::lab
