// cpu/linear.h: the CPU backend of the fully connected layer, y = x W^T + b: one GEMM per
// direction (engine/cpu/gemm.h).
//
// Shapes (letters used in every comment of this file and linear.cc):
//   x (N, IN)   weight (OUT, IN)   bias (OUT) or null   y (N, OUT)
// Follows PyTorch's nn.Linear layout (weight stored OUT-major), so a torchvision `fc.weight`
// loads without a transpose.
//
// Backward (every function writes a fresh buffer; the autograd engine sums gradients):
//   dx = dy W          (N, OUT) x (OUT, IN)
//   dW = dy^T x        (OUT, N) x (N, IN)
//   db = column sums of dy
//
// bf16 (MathMode::Bf16, kernels/shapes.h; float only, float64 ignores it): both GEMM operands are
// rounded to bfloat16 copies before the fp32 GEMM, as the CUDA kernels round them; the bias and
// its gradient stay fp32.
#pragma once

#include <cstdint>

#include "engine/cpu/gemm.h"

namespace lb::cpu {

// y = x W^T + b. bias may be null.
template <class T>
void linear_forward(int64_t N, int64_t IN, int64_t OUT, const T* x, const T* w, const T* bias, T* y, bool bf16 = false);

// dx = dy W.
template <class T>
void linear_backward_input(int64_t N, int64_t IN, int64_t OUT, const T* dy, const T* w, T* dx, bool bf16 = false);

// dW = dy^T x (a fresh gradient, not accumulated into).
template <class T>
void linear_backward_weight(int64_t N, int64_t IN, int64_t OUT, const T* x, const T* dy, T* dw, bool bf16 = false);

// db = sum of dy over the N rows.
template <class T>
void linear_backward_bias(int64_t N, int64_t OUT, const T* dy, T* db);

}  // namespace lb::cpu
