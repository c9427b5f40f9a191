// linear_ref.h: the naive double-precision oracle for linear (y = x W^T + b), forward and
// backward, as plain triple loops that read like the formula:
//   y[n,o] = b[o] + sum_i x[n,i] * w[o,i]
// Shapes: x (N, IN), w (OUT, IN), b (OUT) or undefined, y and dy (N, OUT).
// Inputs may be float32 or float64; every result is a float64 tensor computed in double.
#pragma once

#include "engine/tensor.h"

namespace lb::ref {

Tensor linear_forward(const Tensor& x, const Tensor& w, const Tensor& b);
Tensor linear_backward_input(const Tensor& dy, const Tensor& w);   // dx (N, IN) = dy W
Tensor linear_backward_weight(const Tensor& x, const Tensor& dy);  // dw (OUT, IN) = dy^T x
Tensor linear_backward_bias(const Tensor& dy);                     // db (OUT) = column sums of dy

}  // namespace lb::ref
