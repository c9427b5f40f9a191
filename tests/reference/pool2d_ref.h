// pool2d_ref.h: naive double-precision oracles for max_pool2d (with indices) and
// adaptive_avg_pool2d, forward and backward.
//
// Shapes: x, dx (N, C, H, W); max pooling output, indices, dy (N, C, P, Q); adaptive pooling
// output, dy (N, C, OH, OW). Inputs may be float32 or float64; results are float64 (indices
// int64). The routes differ on purpose from engine/cpu/pool2d.cc: the max pool pads a copy of
// the plane with real -inf cells, the adaptive bins come from std::floor/std::ceil on doubles,
// and both backwards *gather* (for each input, sum over the outputs that reach it) where the
// engine scatters.
#pragma once

#include "engine/tensor.h"

namespace lb::ref {

struct MaxPool2dForward {
  Tensor output;   // (N, C, P, Q) float64
  Tensor indices;  // (N, C, P, Q) int64, flat h * W + w in the input plane
};

MaxPool2dForward max_pool2d_forward(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding);
// dx(h, w) = sum of dy over the outputs whose index is h * W + w.
Tensor max_pool2d_backward(const Tensor& dy, const Tensor& indices, const Shape& input_shape);

Tensor adaptive_avg_pool2d_forward(const Tensor& x, int64_t out_h, int64_t out_w);
// dx(h, w) = sum over the bins containing (h, w) of dy / bin size.
Tensor adaptive_avg_pool2d_backward(const Tensor& dy, const Shape& input_shape);

}  // namespace lb::ref
