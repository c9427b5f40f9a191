// ops/softmax.h: softmax, log_softmax and cross-entropy, with autograd.
//
// softmax/log_softmax along `dim` (negative counts from the end), max-subtracted for stability.
// cross_entropy(logits (N, C), target int64 (N), weight (C) or undefined): mean over the batch of
//   -w[y_i] * log_softmax(logits)_i[y_i], divided by sum_i w[y_i] when weighted (PyTorch's
//   reduction='mean'). Targets outside [0, C) are an error naming the first bad one. Weights
//   whose sum over the batch is not positive are an error on the CPU; on CUDA only when the
//   weights are given on the CPU (a device weight is never read back: the loss is NaN instead).
#pragma once

#include "engine/tensor.h"

namespace lb {

Tensor softmax(const Tensor& x, int64_t dim = -1);
Tensor log_softmax(const Tensor& x, int64_t dim = -1);
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight = Tensor());

}  // namespace lb
