// ops/shape.h: reshape and flatten, with autograd. Both return views (shared storage and version
// counter); when the input requires grad the two aliases refuse in-place ops (see tensor.h).
#pragma once

#include "engine/tensor.h"

namespace lb {

// One entry of `shape` may be -1 (inferred).
Tensor reshape(const Tensor& x, Shape shape);
// Collapses dims [start_dim, end] into one: (N, C, H, W) -> (N, C*H*W) for start_dim 1.
Tensor flatten(const Tensor& x, int64_t start_dim = 1);

}  // namespace lb
