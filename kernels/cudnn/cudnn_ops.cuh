// cudnn/cudnn_ops.cuh: the comparison backend: the same ops through cuDNN and cuBLAS.
//
// Same signatures and semantics as the custom kernels (kernels/conv2d.cuh, batch_norm2d.cuh,
// pool2d.cuh, linear.cuh), launched on kernels::stream(). Selected with --backend cudnn
// (engine/backend.h). Handles and descriptors are created once per thread and cached;
// workspaces come from the caching allocator.
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

LB_CUDA_API(void batch_norm2d_forward_train(const BatchNormShape& s, const float* x, const float* weight,
                                            const float* bias, float* y, float* mean, float* invstd,
                                            float* running_mean, float* running_var, float eps, float momentum))
LB_CUDA_API(void batch_norm2d_forward_eval(const BatchNormShape& s, const float* x, const float* weight,
                                           const float* bias, const float* running_mean, const float* running_var,
                                           float* y, float* invstd, float eps))
LB_CUDA_API(void batch_norm2d_backward(const BatchNormShape& s, const float* x, const float* dy, const float* mean,
                                       const float* invstd, const float* weight, float* dx, float* dweight,
                                       float* dbias, bool training))

// cuDNN's max pooling has no indices: its backward takes x, y and dy. Used by the benchmark.
LB_CUDA_API(void max_pool2d_forward(const MaxPoolShape& s, const float* x, float* y))
LB_CUDA_API(void max_pool2d_backward(const MaxPoolShape& s, const float* x, const float* y, const float* dy, float* dx))
// Global average pooling (OH = OW = 1) through cuDNN average pooling. Used by the benchmark.
LB_CUDA_API(void global_avg_pool2d_forward(const AvgPoolShape& s, const float* x, float* y))
LB_CUDA_API(void global_avg_pool2d_backward(const AvgPoolShape& s, const float* dy, float* dx))

// cuBLAS SGEMM (TF32 tensor-op math when mode is Tf32).
LB_CUDA_API(void linear_forward(int64_t N, int64_t IN, int64_t OUT, const float* x, const float* w, const float* bias,
                                float* y, MathMode mode))
LB_CUDA_API(void linear_backward_input(int64_t N, int64_t IN, int64_t OUT, const float* dy, const float* w, float* dx,
                                       MathMode mode))
LB_CUDA_API(void linear_backward_weight(int64_t N, int64_t IN, int64_t OUT, const float* x, const float* dy, float* dw,
                                        MathMode mode))

}  // namespace lb::kernels::cudnn
