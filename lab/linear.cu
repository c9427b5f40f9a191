// lab/linear.cu: variant 1 of the linear layer (lab.cuh): engine/cpu/linear.h's loops, one thread
// per output element, float accumulation, beside kernels/linear.cu's tiled GEMMs (custom-*) and
// cuBLAS (cublas-*).
//
// Shapes (letters of this file): x, dx (N, IN), w, dw (OUT, IN), y, dy (N, OUT), bias, db (OUT).
#include "lab/lab.cuh"
#include "lab/launch.cuh"

namespace lb::kernels::lab {

using detail::launch;
using detail::thread_index;

namespace {

// One thread per y[n, o] = bias[o] + sum_i x[n, i] * w[o, i].
__global__ void linear_forward_kernel1(int64_t N, int64_t IN, int64_t OUT, const float* x, const float* w,
                                       const float* bias, float* y) {
  const int64_t at = thread_index();
  if (at >= N * OUT) return;
  const int64_t o = at % OUT, n = at / OUT;
  float acc = bias ? bias[o] : 0.0f;
  for (int64_t i = 0; i < IN; ++i) acc += x[n * IN + i] * w[o * IN + i];
  y[at] = acc;
}

// One thread per dx[n, i] = sum_o dy[n, o] * w[o, i].
__global__ void linear_backward_input_kernel1(int64_t N, int64_t IN, int64_t OUT, const float* dy, const float* w,
                                              float* dx) {
  const int64_t at = thread_index();
  if (at >= N * IN) return;
  const int64_t i = at % IN, n = at / IN;
  float acc = 0.0f;
  for (int64_t o = 0; o < OUT; ++o) acc += dy[n * OUT + o] * w[o * IN + i];
  dx[at] = acc;
}

// One thread per dw[o, i] = sum_n dy[n, o] * x[n, i].
__global__ void linear_backward_weight_kernel1(int64_t N, int64_t IN, int64_t OUT, const float* x, const float* dy,
                                               float* dw) {
  const int64_t at = thread_index();
  if (at >= OUT * IN) return;
  const int64_t i = at % IN, o = at / IN;
  float acc = 0.0f;
  for (int64_t n = 0; n < N; ++n) acc += dy[n * OUT + o] * x[n * IN + i];
  dw[at] = acc;
}

// One thread per db[o] = sum_n dy[n, o].
__global__ void linear_backward_bias_kernel1(int64_t N, int64_t OUT, const float* dy, float* db) {
  const int64_t o = thread_index();
  if (o >= OUT) return;
  float acc = 0.0f;
  for (int64_t n = 0; n < N; ++n) acc += dy[n * OUT + o];
  db[o] = acc;
}

}  // namespace

void linear_forward1(int64_t N, int64_t IN, int64_t OUT, const float* x, const float* w, const float* bias, float* y,
                     int block) {
  launch("linear_forward_kernel1", linear_forward_kernel1, N * OUT, block, N, IN, OUT, x, w, bias, y);
}

void linear_backward_input1(int64_t N, int64_t IN, int64_t OUT, const float* dy, const float* w, float* dx, int block) {
  launch("linear_backward_input_kernel1", linear_backward_input_kernel1, N * IN, block, N, IN, OUT, dy, w, dx);
}

void linear_backward_weight1(int64_t N, int64_t IN, int64_t OUT, const float* x, const float* dy, float* dw,
                             int block) {
  launch("linear_backward_weight_kernel1", linear_backward_weight_kernel1, OUT * IN, block, N, IN, OUT, x, dy, dw);
}

void linear_backward_bias1(int64_t N, int64_t OUT, const float* dy, float* db, int block) {
  launch("linear_backward_bias_kernel1", linear_backward_bias_kernel1, OUT, block, N, OUT, dy, db);
}

}  // namespace lb::kernels::lab
