// elementwise.cuh: CUDA entry points for relu, add, mul, scale, fill and accumulate (float32, on stream()).
//
// Pointers are device memory; n is the element count. b_n is n or 1 (a broadcast scalar).
// Each launch is checked; errors throw lb::Error naming the kernel.
#pragma once

#include "kernels/cuda_api.h"

namespace lb::kernels {

LB_CUDA_API(void relu_forward(const float* x, float* y, int64_t n))
LB_CUDA_API(void relu_backward(const float* y, const float* dy, float* dx, int64_t n))
LB_CUDA_API(void add_forward(const float* a, const float* b, int64_t b_n, float alpha, float* out, int64_t n))
LB_CUDA_API(void mul_forward(const float* a, const float* b, int64_t b_n, float* out, int64_t n))
LB_CUDA_API(void scale(const float* x, float s, float* out, int64_t n))

}  // namespace lb::kernels

namespace lb::kernels {

LB_CUDA_API(void fill(float* out, float value, int64_t n))
// out[i] += x[i]: gradient accumulation.
LB_CUDA_API(void accumulate(float* out, const float* x, int64_t n))

}  // namespace lb::kernels
