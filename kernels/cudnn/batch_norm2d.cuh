// cudnn/batch_norm2d.cuh: batchnorm2d through cuDNN, the yardstick of kernels/batch_norm2d.cuh.
//
// Same signatures and semantics as kernels/batch_norm2d.cuh, launched on kernels::stream();
// selected with --backend cudnn (engine/backend.h).
#pragma once

#include "kernels/cuda_api.h"
#include "kernels/shapes.h"

namespace lb::kernels::cudnn {

LB_CUDA_API(void batch_norm2d_forward_train(const BatchNormShape& s, const float* x, const float* weight,
                                            const float* bias, float* y, float* mean, float* invstd,
                                            float* running_mean, float* running_var, float eps, float momentum))
LB_CUDA_API(void batch_norm2d_forward_eval(const BatchNormShape& s, const float* x, const float* weight,
                                           const float* bias, const float* running_mean, const float* running_var,
                                           float* y, float* invstd, float eps))
LB_CUDA_API(void batch_norm2d_backward(const BatchNormShape& s, const float* x, const float* dy, const float* mean,
                                       const float* invstd, const float* weight, float* dx, float* dweight,
                                       float* dbias, bool training))

}  // namespace lb::kernels::cudnn
