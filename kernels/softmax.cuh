// softmax.cuh: softmax / log-softmax along an axis, axis sums, and fused softmax cross-entropy.
#pragma once

#include "kernels/cuda_api.h"
#include "kernels/shapes.h"

namespace lb::kernels {

LB_CUDA_API(void softmax_forward(const AxisShape& s, const float* x, float* y, bool log))
LB_CUDA_API(void softmax_backward(const AxisShape& s, const float* y, const float* dy, float* dx, bool log))

// out[o, j] = scale * sum_i x[o, i, j]   (out has outer * inner elements)
LB_CUDA_API(void sum_axis(const AxisShape& s, const float* x, float* out, float scale))
// dx[o, i, j] = scale * dy[o, j]
LB_CUDA_API(void broadcast_axis(const AxisShape& s, const float* dy, float* dx, float scale))

// Cross-entropy over logits (N, C) with int64 targets in [0, C) (checked by the caller) and an
// optional per-class weight (C). Writes log_probs (N, C), row_weight[i] = w[y_i] / sum_j w[y_j]
// (1/N unweighted) and the scalar loss = -sum_i row_weight[i] * log_probs[i, y_i], all on device;
// class_weight is device memory, read only by the kernel. Weights whose sum over the batch is not
// positive give a NaN loss and NaN row weights (nothing is read back to check it).
LB_CUDA_API(void cross_entropy_forward(const float* logits, const int64_t* target, const float* class_weight, int64_t N,
                                       int64_t C, float* log_probs, float* row_weight, float* loss))
// dlogits[i, c] = g * row_weight[i] * (exp(log_probs[i, c]) - [c == y_i]); g is a device scalar.
LB_CUDA_API(void cross_entropy_backward(const float* log_probs, const int64_t* target, const float* row_weight,
                                        const float* g, int64_t N, int64_t C, float* dlogits))

}  // namespace lb::kernels
