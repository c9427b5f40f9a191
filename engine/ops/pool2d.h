// ops/pool2d.h: max pooling (with indices) and adaptive average pooling, with autograd.
//
// max_pool2d: x (N, C, H, W) -> (N, C, P, Q), P = (H + 2*padding - kernel) / stride + 1 (floor,
//   no ceil mode, no dilation), padding <= kernel / 2 as PyTorch requires. Padding acts as -inf.
//   indices (int64, same shape as the output) hold the flat index h * W + w of each maximum in its
//   input plane, like PyTorch; ties pick the first maximum in row-major window order.
//   Backward scatters each output gradient to its argmax and *sums* where windows overlap.
// adaptive_avg_pool2d: x (N, C, H, W) -> (N, C, OH, OW); output cell (i, j) averages rows
//   [floor(i*H/OH), ceil((i+1)*H/OH)) and the matching columns, like PyTorch.
#pragma once

#include "engine/tensor.h"

namespace lb {

struct MaxPoolResult {
  Tensor output;   // (N, C, P, Q)
  Tensor indices;  // (N, C, P, Q) int64
};

MaxPoolResult max_pool2d_with_indices(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding = 0);
Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding = 0);
Tensor adaptive_avg_pool2d(const Tensor& x, int64_t out_h, int64_t out_w);

// The settings of a max_pool2d tape node (kind "max_pool2d"), for backward-override rules that
// re-pool the op's recorded input: DeepLIFT's max-pool rule (explain/deep.cc) needs the argmax of
// each half of its batch. Throws unless `node` is a max_pool2d node.
struct MaxPool2dSettings {
  int64_t kernel = 0, stride = 0, padding = 0;
};
MaxPool2dSettings max_pool2d_settings(const Node& node);

}  // namespace lb
