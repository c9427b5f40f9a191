// pool2d.cuh: max-pool with indices and adaptive average pool, forward and backward.
//
// indices are int64 flat positions inside each input plane (h * W + w), as PyTorch's. The
// backward passes overwrite dx (max-pool's zeroes it first, then scatters with atomics: windows
// overlap when stride < kernel).
#pragma once

#include "kernels/cuda_api.h"
#include "kernels/shapes.h"

namespace lb::kernels {

LB_CUDA_API(void max_pool2d_forward(const MaxPoolShape& s, const float* x, float* y, int64_t* indices))
LB_CUDA_API(void max_pool2d_backward(const MaxPoolShape& s, const float* dy, const int64_t* indices, float* dx))
LB_CUDA_API(void adaptive_avg_pool2d_forward(const AvgPoolShape& s, const float* x, float* y))
LB_CUDA_API(void adaptive_avg_pool2d_backward(const AvgPoolShape& s, const float* dy, float* dx))

}  // namespace lb::kernels
