// batch_norm2d.cuh: batchnorm2d kernels (train and eval forward, backward) and the fused
// BN + ReLU (+ residual add) forward for inference.
//
// x, y: (N, C, HW) float32 device memory. mean and invstd are per-channel outputs of the
// training forward (the batch statistics, saved for backward); running_* are updated in place
// with PyTorch's rule (unbiased variance for running_var). Eval writes invstd = 1/sqrt(rv + eps).
#pragma once

#include "kernels/cuda_api.h"
#include "kernels/shapes.h"

namespace lb::kernels {

LB_CUDA_API(void batch_norm2d_forward_train(const BatchNormShape& s, const float* x, const float* weight,
                                            const float* bias, float* y, float* mean, float* invstd,
                                            float* running_mean, float* running_var, float eps, float momentum))
LB_CUDA_API(void batch_norm2d_forward_eval(const BatchNormShape& s, const float* x, const float* weight,
                                           const float* bias, const float* running_mean, const float* running_var,
                                           float* y, float* invstd, float eps))
// training = true: mean/invstd are batch statistics (full BN backward); false: frozen statistics
// (dx = dy * weight * invstd). dweight/dbias may be null when not needed; they are overwritten.
LB_CUDA_API(void batch_norm2d_backward(const BatchNormShape& s, const float* x, const float* dy, const float* mean,
                                       const float* invstd, const float* weight, float* dx, float* dweight,
                                       float* dbias, bool training))
// y = relu(bn_eval(x) + residual); residual may be null. One pass over memory.
LB_CUDA_API(void batch_norm2d_relu_forward_eval(const BatchNormShape& s, const float* x, const float* weight,
                                                const float* bias, const float* running_mean,
                                                const float* running_var, const float* residual, float* y, float eps))

}  // namespace lb::kernels
