// lab/elementwise.cu: variant 1 of relu (lab.cuh): engine/cpu/elementwise.h's loops, one thread
// per element, beside kernels/elementwise.cu's grid-stride kernels (custom-fp32).
//
// Shapes (letters of this file): x, y, dy, dx (n).
#include "lab/lab.cuh"
#include "lab/launch.cuh"

namespace lb::kernels::lab {

using detail::launch;
using detail::thread_index;

namespace {

__global__ void relu_forward_kernel1(const float* x, float* y, int64_t n) {
  const int64_t i = thread_index();
  if (i < n) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

// Masked by the output, like the CPU (y > 0 exactly where x > 0).
__global__ void relu_backward_kernel1(const float* y, const float* dy, float* dx, int64_t n) {
  const int64_t i = thread_index();
  if (i < n) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

}  // namespace

void relu_forward1(const float* x, float* y, int64_t n, int block) {
  launch("relu_forward_kernel1", relu_forward_kernel1, n, block, x, y, n);
}

void relu_backward1(const float* y, const float* dy, float* dx, int64_t n, int block) {
  launch("relu_backward_kernel1", relu_backward_kernel1, n, block, y, dy, dx, n);
}

}  // namespace lb::kernels::lab
