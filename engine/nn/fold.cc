// nn/fold.cc: see fold.h. Shapes: W (K, C, R, S), everything per channel (K).
#include "engine/nn/fold.h"

#include "engine/autograd.h"
#include "engine/ops/ops.h"

namespace lb::nn {

FoldedConv fold_batch_norm(Conv2d& conv, BatchNorm2d& bn) {
  const Tensor& w = conv.weight();  // (K, C, R, S)
  const int64_t K = w.size(0);
  LB_CHECK(bn.channels() == K, "fold_batch_norm: the conv has " << K << " output channels but the BatchNorm2d "
                                                                << bn.channels() << "; fold a BatchNorm2d into "
                                                                << "the conv whose output it normalises");
  // Eval mode (training = false): the running statistics are read, never updated, so momentum
  // is unused and nothing is written to bn's buffers.
  constexpr bool kEval = false;
  const double eps = bn.eps();
  // W' = W * s: batch_norm2d over K channels of C*R*S values each, mean 0, no shift.
  const Tensor zero_mean = Tensor::zeros({K}, w.dtype(), w.device());
  // (1, K, C*R*S, 1): channel k is filter k. A differentiable view when W requires grad, which
  // marks W as a view's alias (tensor.h): in-place relu_/add_ into W under grad mode are refused,
  // as they already are for a leaf that requires grad.
  const Tensor w_rows = reshape(w, {1, K, -1, 1});
  const Tensor w_scaled = batch_norm2d(w_rows, bn.weight(), Tensor(), zero_mean, bn.running_var(), kEval, 0.0, eps);
  // b' = (b - mean) * s + beta: batch_norm2d over the conv's bias (zero without one) as a 1x1 image.
  const Tensor b =
      conv.bias().defined() ? reshape(conv.bias(), {1, K, 1, 1}) : Tensor::zeros({1, K, 1, 1}, w.dtype(), w.device());
  const Tensor b_folded = batch_norm2d(b, bn.weight(), bn.bias(), bn.running_mean(), bn.running_var(), kEval, 0.0, eps);
  return {reshape(w_scaled, w.shape()), reshape(b_folded, {K})};
}

Tensor conv_bn_folded(Conv2d& conv, BatchNorm2d& bn, const Tensor& x) {
  const FoldedConv f = fold_batch_norm(conv, bn);
  return conv2d(x, f.weight, f.bias, conv.stride(), conv.padding());
}

// ---- FoldCache ---------------------------------------------------------------------------------

std::vector<FoldCache::Source> FoldCache::sources(Conv2d& conv, BatchNorm2d& bn) {
  std::vector<Source> out;
  for (const Tensor* t :
       {&conv.weight(), &conv.bias(), &bn.weight(), &bn.bias(), &bn.running_mean(), &bn.running_var()}) {
    Source s;
    if (t->defined()) {  // an undefined one (a conv without bias) stays an empty Source
      s.storage = t->impl()->storage;
      s.offset = t->impl()->offset;
      s.version = t->version();
    }
    out.push_back(std::move(s));
  }
  return out;
}

bool FoldCache::matches(const std::vector<Source>& now) const {
  if (key_.size() != now.size()) return false;
  for (size_t i = 0; i < now.size(); ++i) {
    // lock() is null once the cached storage is gone, so a new storage at a recycled address never
    // matches; two empty Sources (both undefined) do.
    if (key_[i].storage.lock() != now[i].storage.lock() || key_[i].offset != now[i].offset ||
        key_[i].version != now[i].version)
      return false;
  }
  return true;
}

FoldedConv FoldCache::get(Conv2d& conv, BatchNorm2d& bn) {
  if (needs_grad({conv.weight(), conv.bias(), bn.weight(), bn.bias()})) {
    std::lock_guard<std::mutex> lock(mu_);
    ++folds_computed_;
    return fold_batch_norm(conv, bn);  // on the tape, linked to the live parameters; not cached
  }
  std::vector<Source> now = sources(conv, bn);
  std::lock_guard<std::mutex> lock(mu_);
  if (!matches(now)) {
    value_ = fold_batch_norm(conv, bn);  // no grad needed: plain tensors without history
    key_ = std::move(now);
    ++folds_computed_;
  }
  return value_;
}

Tensor FoldCache::conv_bn(Conv2d& conv, BatchNorm2d& bn, const Tensor& x) {
  const FoldedConv f = get(conv, bn);
  return conv2d(x, f.weight, f.bias, conv.stride(), conv.padding());
}

int64_t FoldCache::folds_computed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return folds_computed_;
}

}  // namespace lb::nn
