// ops/elementwise.h: relu, relu_, add, add_, sub, mul and scale, with autograd.
//
// Shapes: a and b have the same shape, or b has one element (a broadcast scalar). Gradients
// reduce back to b's shape. All ops run on float32/float64 CPU tensors and float32 CUDA tensors.
#pragma once

#include "engine/tensor.h"

namespace lb {

Tensor relu(const Tensor& x);
// In place: x = max(x, 0). Legal inside a graph because relu's backward needs only its output.
Tensor& relu_(Tensor& x);

// a + alpha * b
Tensor add(const Tensor& a, const Tensor& b, double alpha = 1.0);
// a += alpha * b, in place (the residual add of a BasicBlock: out += identity).
Tensor& add_(Tensor& a, const Tensor& b, double alpha = 1.0);
inline Tensor sub(const Tensor& a, const Tensor& b) { return add(a, b, -1.0); }
Tensor mul(const Tensor& a, const Tensor& b);
// x * s for a constant s.
Tensor scale(const Tensor& x, double s);

}  // namespace lb
