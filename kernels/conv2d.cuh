// conv2d.cuh: lightbox's own conv2d kernels (implicit GEMM, forward and both backward passes).
//
// Pointers are float32 device memory, NCHW / KCRS contiguous. All launches go on stream().
// mode Tf32 uses tensor cores (wmma m16n16k8, fp32 accumulate) where the shape allows and falls
// back to the fp32 path otherwise. backward_weight and backward_bias overwrite their outputs
// (the autograd engine accumulates).
#pragma once

#include "kernels/cuda_api.h"
#include "kernels/shapes.h"

namespace lb::kernels {

LB_CUDA_API(void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y,
                                MathMode mode))
LB_CUDA_API(void conv2d_backward_input(const Conv2dShape& s, const float* dy, const float* w, float* dx, MathMode mode))
LB_CUDA_API(void conv2d_backward_weight(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                                        MathMode mode))
LB_CUDA_API(void conv2d_backward_bias(const Conv2dShape& s, const float* dy, float* db))

}  // namespace lb::kernels
