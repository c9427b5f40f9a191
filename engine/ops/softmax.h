// ops/softmax.h: softmax, log_softmax and cross-entropy, with autograd.
//
// softmax/log_softmax along `dim` (negative counts from the end), max-subtracted for stability.
// cross_entropy(logits (N, C), target int64 (N), weight (C) or undefined): mean over the batch of
//   -w[y_i] * log_softmax(logits)_i[y_i], divided by sum_i w[y_i] when weighted (PyTorch's
//   reduction='mean'). Targets outside [0, C) are an error naming the first bad one. Weights
//   whose sum over the batch is not positive are an error on the CPU; on CUDA only when the
//   weights are given on the CPU (a device weight is never read back: the loss is NaN instead).
// binary_cross_entropy_with_logits(logits (N, L), target int64 (N, L) of 0/1): the multi-label
//   loss (PyTorch's BCEWithLogitsLoss, reduction='mean' over all N*L entries):
//   -mean(y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))). It is built from ops that already have
//   CPU and CUDA kernels and backward rules: the sigmoid BCE of a logit z is exactly the two-class
//   cross-entropy of the logit pair (0, z), because softmax((0, z))[1] = 1 / (1 + e^-z), and the
//   pairs are one linear map z -> (0 * z, 1 * z). Stable for any z (log_softmax subtracts the max).
// cross_entropy_smoothed(logits, target, eps): torch's cross_entropy(..., label_smoothing=eps),
//   the target mixed with the uniform distribution, (1 - eps) one-hot + eps / C:
//   (1 - eps) * cross_entropy(logits, target) - eps * mean(log_softmax(logits)), composed from
//   ops with kernels and backward rules on both devices; eps = 0 is cross_entropy itself.
// sigmoid(z) = 1 / (1 + e^-z) elementwise, any shape, with autograd: by the same identity,
//   softmax((0, z))[1], so it too needs no kernel of its own (the multi-label model's
//   probabilities, which explainers differentiate).
#pragma once

#include "engine/tensor.h"

namespace lb {

Tensor softmax(const Tensor& x, int64_t dim = -1);
Tensor log_softmax(const Tensor& x, int64_t dim = -1);
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight = Tensor());
Tensor cross_entropy_smoothed(const Tensor& logits, const Tensor& target, double label_smoothing);
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target);
Tensor sigmoid(const Tensor& z);

}  // namespace lb
