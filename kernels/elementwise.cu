// elementwise.cu: grid-stride kernels for relu, add, mul, scale, fill and accumulate.
//
// These ops are memory-bound: each element is read once and written once, so a grid-stride loop
// with enough blocks to fill the card is as fast as anything cleverer. 256 threads per block;
// the grid is capped so one launch covers the array in a few passes.
#include "kernels/common.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/elementwise.cuh"

namespace lb::kernels {

namespace {

using detail::cuda_stream;
using detail::grid_for;

constexpr int kThreads = 256;

__global__ void relu_forward_kernel(const float* x, float* y, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    y[i] = x[i] > 0.f ? x[i] : 0.f;
}

__global__ void relu_backward_kernel(const float* y, const float* dy, float* dx, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    dx[i] = y[i] > 0.f ? dy[i] : 0.f;
}

__global__ void add_forward_kernel(const float* a, const float* b, int64_t b_n, float alpha, float* out, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    out[i] = a[i] + alpha * b[b_n == 1 ? 0 : i];
}

__global__ void mul_forward_kernel(const float* a, const float* b, int64_t b_n, float* out, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    out[i] = a[i] * b[b_n == 1 ? 0 : i];
}

__global__ void scale_kernel(const float* x, float s, float* out, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    out[i] = x[i] * s;
}

__global__ void fill_kernel(float* out, float value, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    out[i] = value;
}

__global__ void accumulate_kernel(float* out, const float* x, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    out[i] += x[i];
}

}  // namespace

void relu_forward(const float* x, float* y, int64_t n) {
  relu_forward_kernel<<<grid_for(n, kThreads), kThreads, 0, cuda_stream()>>>(x, y, n);
  LB_CUDA_CHECK_LAUNCH("relu_forward_kernel");
}

void relu_backward(const float* y, const float* dy, float* dx, int64_t n) {
  relu_backward_kernel<<<grid_for(n, kThreads), kThreads, 0, cuda_stream()>>>(y, dy, dx, n);
  LB_CUDA_CHECK_LAUNCH("relu_backward_kernel");
}

void add_forward(const float* a, const float* b, int64_t b_n, float alpha, float* out, int64_t n) {
  add_forward_kernel<<<grid_for(n, kThreads), kThreads, 0, cuda_stream()>>>(a, b, b_n, alpha, out, n);
  LB_CUDA_CHECK_LAUNCH("add_forward_kernel");
}

void mul_forward(const float* a, const float* b, int64_t b_n, float* out, int64_t n) {
  mul_forward_kernel<<<grid_for(n, kThreads), kThreads, 0, cuda_stream()>>>(a, b, b_n, out, n);
  LB_CUDA_CHECK_LAUNCH("mul_forward_kernel");
}

void scale(const float* x, float s, float* out, int64_t n) {
  scale_kernel<<<grid_for(n, kThreads), kThreads, 0, cuda_stream()>>>(x, s, out, n);
  LB_CUDA_CHECK_LAUNCH("scale_kernel");
}

void fill(float* out, float value, int64_t n) {
  if (n == 0) return;
  fill_kernel<<<grid_for(n, kThreads), kThreads, 0, cuda_stream()>>>(out, value, n);
  LB_CUDA_CHECK_LAUNCH("fill_kernel");
}

void accumulate(float* out, const float* x, int64_t n) {
  if (n == 0) return;
  accumulate_kernel<<<grid_for(n, kThreads), kThreads, 0, cuda_stream()>>>(out, x, n);
  LB_CUDA_CHECK_LAUNCH("accumulate_kernel");
}

}  // namespace lb::kernels
