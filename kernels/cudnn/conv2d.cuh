// cudnn/conv2d.cuh: conv2d through cuDNN, the yardstick of lightbox's own kernels/conv2d.cuh.
//
// Same signatures and semantics as kernels/conv2d.cuh, launched on kernels::stream(); selected with
// --backend cudnn (engine/backend.h). MathMode::Bf16 is refused (cudnn/conv2d.cu says why).
#pragma once

#include "kernels/cuda_api.h"
#include "kernels/shapes.h"

namespace lb::kernels::cudnn {

LB_CUDA_API(void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y,
                                MathMode mode))
LB_CUDA_API(void conv2d_backward_input(const Conv2dShape& s, const float* dy, const float* w, float* dx, MathMode mode))
LB_CUDA_API(void conv2d_backward_weight(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                                        MathMode mode))
LB_CUDA_API(void conv2d_backward_bias(const Conv2dShape& s, const float* dy, float* db))

}  // namespace lb::kernels::cudnn
