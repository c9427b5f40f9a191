// conv2d_ref.h: the naive double-precision oracle for conv2d, forward and backward.
//
// The definition written out as nested loops, with nothing clever in them, so that a reader can
// check it against the formula at a glance; the fast CPU backend (engine/cpu/conv2d.cc) and the
// CUDA kernels are tested against it. PyTorch's conv2d semantics (cross-correlation):
//   y[n,k,p,q] = b[k] + sum_{c,r,s} x[n, c, p*stride + r - pad, q*stride + s - pad] * w[k,c,r,s]
// with x read as 0 outside the image.
//
// Shapes: x (N, C, H, W), w (K, C, R, S), b (K) or undefined, y and dy (N, K, P, Q),
//   P = (H + 2*pad - R) / stride + 1,  Q = (W + 2*pad - S) / stride + 1.
// Inputs may be float32 or float64; every result is a float64 tensor computed in double.
#pragma once

#include <cstdint>

#include "engine/tensor.h"

namespace lb::ref {

Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride, int64_t pad);
// dx (shaped x_shape) given dy and w.
Tensor conv2d_backward_input(const Tensor& dy, const Tensor& w, const Shape& x_shape, int64_t stride, int64_t pad);
// dw (shaped w_shape) given x and dy.
Tensor conv2d_backward_weight(const Tensor& x, const Tensor& dy, const Shape& w_shape, int64_t stride, int64_t pad);
// db (K): dy summed over n, p, q.
Tensor conv2d_backward_bias(const Tensor& dy);

}  // namespace lb::ref
