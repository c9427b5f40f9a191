// cudnn/linear.cuh: the linear layer through cuBLAS SGEMM, the yardstick of kernels/linear.cuh.
//
// Same signatures and semantics as kernels/linear.cuh, launched on kernels::stream(); selected
// with --backend cudnn (engine/backend.h). TF32 tensor-op math when mode is Tf32.
#pragma once

#include <cstdint>

#include "kernels/cuda_api.h"
#include "kernels/shapes.h"

namespace lb::kernels::cudnn {

LB_CUDA_API(void linear_forward(int64_t N, int64_t IN, int64_t OUT, const float* x, const float* w, const float* bias,
                                float* y, MathMode mode))
LB_CUDA_API(void linear_backward_input(int64_t N, int64_t IN, int64_t OUT, const float* dy, const float* w, float* dx,
                                       MathMode mode))
LB_CUDA_API(void linear_backward_weight(int64_t N, int64_t IN, int64_t OUT, const float* x, const float* dy, float* dw,
                                        MathMode mode))

}  // namespace lb::kernels::cudnn
