// cpu/onednn/linear.h: the fully connected layer through oneDNN, the comparison backend of
// engine/cpu/linear.h (same layout, float32 only).
//
// Shapes: x, dx (N, IN); weight, dw (OUT, IN) (PyTorch's layout, which is oneDNN's "oi"); bias
// (OUT); y, dy (N, OUT).
//
// Primitives: inner_product_forward (forward_training, with bias when given),
// inner_product_backward_data (dx) and inner_product_backward_weights (dw). Memory formats: plain
// ("nc", "oi"), no reorders: the layer is a GEMM on row-major matrices already, which oneDNN runs
// on its own GEMM. The bias gradient (a column sum of dy) stays lightbox's (cpu::linear_backward_bias)
// under both backends, as it stays our kernel under --backend cudnn on the GPU.
#pragma once

#include <cstdint>

#include "engine/cpu/onednn/context.h"

namespace lb::cpu::onednn {

// y = x W^T + b; bias may be null.
void linear_forward(Context& ctx, int64_t N, int64_t IN, int64_t OUT, const float* x, const float* w, const float* bias,
                    float* y);
// dx = dy W.
void linear_backward_input(Context& ctx, int64_t N, int64_t IN, int64_t OUT, const float* dy, const float* w,
                           float* dx);
// dW = dy^T x (a fresh gradient).
void linear_backward_weight(Context& ctx, int64_t N, int64_t IN, int64_t OUT, const float* x, const float* dy,
                            float* dw);

}  // namespace lb::cpu::onednn
