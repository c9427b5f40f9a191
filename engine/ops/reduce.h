// ops/reduce.h: sum and mean, over everything or over one dimension, with autograd.
// Accumulation is in double for float32 inputs, so a sum of a million terms keeps its digits.
#pragma once

#include "engine/tensor.h"

namespace lb {

Tensor sum(const Tensor& x);  // scalar (shape [])
Tensor sum(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, int64_t dim, bool keepdim = false);

}  // namespace lb
