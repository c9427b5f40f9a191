// ops/linear.h: y = x W^T + b, with autograd.
//
// Shapes: x (N, IN), weight (OUT, IN), bias (OUT) or undefined, y (N, OUT). CPU: one GEMM.
#pragma once

#include "engine/tensor.h"

namespace lb {

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

}  // namespace lb
