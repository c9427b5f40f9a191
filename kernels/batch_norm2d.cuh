// batch_norm2d.cuh: batchnorm2d kernels (train and eval forward, backward) and the fused
// BN + ReLU (+ residual add): train and eval forward, backward.
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

// ---- fused BN + residual add + ReLU (the op batch_norm2d_relu) ----------------------------------
// residual (N, C, HW) may be null (no add). The statistics and invstd are exactly those of the
// unfused kernels above; only the elementwise passes are merged.
// Training: the statistics passes of batch_norm2d_forward_train, then ONE pass
// y = relu((x - mean) * invstd * weight + bias + residual).
LB_CUDA_API(void batch_norm2d_relu_forward_train(const BatchNormShape& s, const float* x, const float* weight,
                                                 const float* bias, const float* residual, float* y, float* mean,
                                                 float* invstd, float* running_mean, float* running_var, float eps,
                                                 float momentum))
// Eval: y = relu(bn_eval(x) + residual), one pass over memory. invstd (C) is written when not null
// (the backward needs it).
LB_CUDA_API(void batch_norm2d_relu_forward_eval(const BatchNormShape& s, const float* x, const float* weight,
                                                const float* bias, const float* running_mean, const float* running_var,
                                                const float* residual, float* y, float* invstd, float eps))
// Backward of y = relu(bn(x) + residual) given y and dy: the ReLU mask g = dy * (y > 0) is applied
// as dy is read, in both passes (no masked copy of dy is made); dresidual = g is written by the dx
// pass. Then batch_norm2d_backward's formulas on g. dx, dweight, dbias, dresidual may each be null.
LB_CUDA_API(void batch_norm2d_relu_backward(const BatchNormShape& s, const float* x, const float* y, const float* dy,
                                            const float* mean, const float* invstd, const float* weight, float* dx,
                                            float* dweight, float* dbias, float* dresidual, bool training))

}  // namespace lb::kernels
