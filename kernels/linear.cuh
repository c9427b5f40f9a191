// linear.cuh: y = x W^T + b through lightbox's own tiled SGEMM, and its backward passes.
//
// x (N, IN), w (OUT, IN), y (N, OUT), row-major float32 device memory. Backward passes overwrite.
// gemm() is the building block: C (M x N) = alpha * op(A) op(B) + beta * C, row-major, op = T or not.
#pragma once

#include "kernels/cuda_api.h"
#include "kernels/shapes.h"

namespace lb::kernels {

LB_CUDA_API(void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                      int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc, MathMode mode))
LB_CUDA_API(void linear_forward(int64_t N, int64_t IN, int64_t OUT, const float* x, const float* w, const float* bias,
                                float* y, MathMode mode))
LB_CUDA_API(void linear_backward_input(int64_t N, int64_t IN, int64_t OUT, const float* dy, const float* w, float* dx,
                                       MathMode mode))
LB_CUDA_API(void linear_backward_weight(int64_t N, int64_t IN, int64_t OUT, const float* x, const float* dy, float* dw,
                                        MathMode mode))
LB_CUDA_API(void linear_backward_bias(int64_t N, int64_t OUT, const float* dy, float* db))

}  // namespace lb::kernels
