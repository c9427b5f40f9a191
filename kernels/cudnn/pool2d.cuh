// cudnn/pool2d.cuh: max and global average pooling through cuDNN, timed beside kernels/pool2d.cuh
// by the kernel lab (`lightbox bench kernels`); the engine's ops use lightbox's own pooling kernels
// under both backends.
#pragma once

#include "kernels/cuda_api.h"
#include "kernels/shapes.h"

namespace lb::kernels::cudnn {

// cuDNN's max pooling has no indices: its backward takes x, y and dy.
LB_CUDA_API(void max_pool2d_forward(const MaxPoolShape& s, const float* x, float* y))
LB_CUDA_API(void max_pool2d_backward(const MaxPoolShape& s, const float* x, const float* y, const float* dy, float* dx))
// Global average pooling (OH = OW = 1) through cuDNN average pooling.
LB_CUDA_API(void global_avg_pool2d_forward(const AvgPoolShape& s, const float* x, float* y))
LB_CUDA_API(void global_avg_pool2d_backward(const AvgPoolShape& s, const float* dy, float* dx))

}  // namespace lb::kernels::cudnn
