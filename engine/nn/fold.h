// nn/fold.h: batch norm folded into the convolution before it, for inference.
//
// In eval mode a BatchNorm2d normalises with its running statistics, so it is a fixed affine map
// per channel k. Behind a convolution with weight W (K, C, R, S) and bias b (K, or zero):
//
//   bn(conv(x, W) + b) = gamma * (conv(x, W) + b - mean) / sqrt(var + eps) + beta
//                      = conv(x, W * s) + (b - mean) * s + beta,   s = gamma / sqrt(var + eps)  (K)
//
// because a convolution is linear in its weight and output channel k reads only W[k]. So
//   W' = W * s[k]                     (K, C, R, S)   every output channel's filter scaled
//   b' = (b - mean) * s + beta        (K)
// and one conv2d(x, W', b') replaces conv -> BatchNorm: one pass over the activations instead of
// two, and no BatchNorm node on the tape. Equal up to float32 rounding, not bit for bit.
//
// How W' and b' are computed: the right-hand sides are themselves batch_norm2d in eval mode. W'
// is batch_norm2d over W seen as one image of K channels, each a (C*R*S) x 1 plane, with mean 0
// and no shift; b' is batch_norm2d over b (or zeros) seen as a 1x1 image. So the fold is two
// calls of an existing op, which runs on the CPU and CUDA alike, and its autograd node already
// holds the chain rule of the fold: dW = s * dW', dgamma = sum(dW' * W / sqrt(var + eps)) +
// db' * (b - mean) / sqrt(var + eps), dbeta = db'. A probe asking for parameter gradients, or an
// explainer differentiating an eval model, gets the unfolded graph's gradients (up to rounding).
// With grad mode off, or no parameter requiring grad, the same calls record nothing.
//
// With grad mode on and a parameter requiring grad, the fold is recomputed at every forward, so
// the tape links it to the live parameters. Otherwise (inference, explainers with frozen
// parameters) FoldCache keeps it between forwards: recomputing costs ~6 ms per ResNet18 forward on
// one core (11 M weights read and written), as much as the batch-norm passes it saves at 28x28
// batch 128 and several times more at small batches. The cache is keyed on the version counters
// (engine/storage.h) of the pair's six tensors, so a training step, a loaded checkpoint, an edited
// statistic or a device move makes the next forward fold again. Callers ask nn::can_fold first
// (engine/nn/fusion.h): the folded path calls neither module, so no Capture may want them, and
// eval mode is required.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/nn/layers.h"
#include "engine/storage.h"

namespace lb::nn {

struct FoldedConv {
  Tensor weight;  // (K, C, R, S) W * s
  Tensor bias;    // (K)          (b - mean) * s + beta
};

// The folded weight and bias of conv followed by bn (bn.channels() must be conv's K). Uses bn's
// running statistics whatever bn's mode: the caller decides when that is right (eval).
FoldedConv fold_batch_norm(Conv2d& conv, BatchNorm2d& bn);

// conv2d(x, W', b') with conv's stride and padding: bn(conv(x)) in eval mode, as one convolution.
// The fold is computed afresh (no cache).
Tensor conv_bn_folded(Conv2d& conv, BatchNorm2d& bn, const Tensor& x);

// The fold of one conv -> BatchNorm pair, kept between forwards that need no gradient of it. It is
// reused only while each source tensor (conv weight and bias, gamma, beta, running mean and
// variance) is the same storage at the same version: every in-place write bumps that version
// (optimizer steps, load_state_dict, copy_/fill_, batch norm's own running-statistic update, a
// replayed CUDA Graph step: models/graph_step.cc), and Module::to() swaps the storage, which the
// weak_ptr in the key notices even if the new storage lands at the old address. A write through a
// raw pointer without mark_modified() is invisible to it, as it is to autograd (tensor.h).
// When autograd must see the fold (needs_grad on the parameters) get() recomputes it and leaves
// the cache alone. Thread-safe: one mutex per pair.
class FoldCache {
 public:
  FoldedConv get(Conv2d& conv, BatchNorm2d& bn);
  // conv2d(x, W', b') with conv's stride and padding, W' and b' from get().
  Tensor conv_bn(Conv2d& conv, BatchNorm2d& bn, const Tensor& x);
  int64_t folds_computed() const;  // how many times get() folded (tests see hits and misses)

 private:
  struct Source {
    std::weak_ptr<Storage> storage;
    int64_t offset = 0;
    uint64_t version = 0;
  };
  static std::vector<Source> sources(Conv2d& conv, BatchNorm2d& bn);
  bool matches(const std::vector<Source>& now) const;

  mutable std::mutex mu_;
  std::vector<Source> key_;  // empty: nothing cached
  FoldedConv value_;
  int64_t folds_computed_ = 0;
};

}  // namespace lb::nn
