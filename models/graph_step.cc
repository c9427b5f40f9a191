// models/graph_step.cc: see graph_step.h.
#include "models/graph_step.h"

#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/nn/layers.h"
#include "engine/ops/ops.h"
#include "kernels/runtime.cuh"

namespace lb::models {

ReplayPolicy::Action ReplayPolicy::next(const GraphKey& k) {
  if (have_graph_ && k == graph_key_) {
    have_eager_key_ = false;  // "just before" means the previous batch, not an older one
    return Action::Replay;
  }
  if (have_eager_key_ && k == last_eager_key_) {
    graph_key_ = k;
    have_graph_ = true;
    have_eager_key_ = false;
    return Action::Capture;
  }
  last_eager_key_ = k;
  have_eager_key_ = true;
  return Action::Eager;
}

void check_graph_supported(Device dev) {
  LB_CHECK(dev.is_cuda(), "--graph captures the training step in a CUDA Graph; it needs --device cuda");
  LB_CHECK(cuda_backend() == CudaBackend::Custom,
           "--graph captures lightbox's own kernels only (a captured cuDNN step went wrong on an H200); "
           "use --backend custom or drop --graph");
}

GraphStep::GraphStep(nn::Module& model, optim::Optimizer& opt) : model_(model), opt_(opt) {
  LB_CHECK(!opt.params().empty(), "cuda graph: the optimizer has no parameters");
  dev_ = opt.params()[0].device();
  check_graph_supported(dev_);
  opt_.use_device_scalars();
}

GraphStep::~GraphStep() {
  try {
    release();
  } catch (...) {  // a destructor must not throw; the next CUDA call reports a broken device
  }
}

void GraphStep::release() {
  if (!graph_) return;
  kernels::graph_destroy(graph_);
  graph_ = nullptr;
  x_ = y_ = loss_ = logits_ = Tensor();
}

GraphKey GraphStep::key_of(const Tensor& x) const {
  GraphKey k;
  k.x_shape = x.shape();
  for (const Tensor& p : opt_.params()) k.trainable.push_back(p.requires_grad());
  return k;
}

std::vector<int64_t> GraphStep::batch_counts() const {
  std::vector<int64_t> v;
  for (const auto& [name, m] : model_.named_modules())
    if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(m))
      v.push_back(static_cast<int64_t>(bn->num_batches_tracked().item()));
  return v;
}

void GraphStep::set_batch_counts(const std::vector<int64_t>& v) {
  NoGradGuard no_grad;
  size_t i = 0;
  for (const auto& [name, m] : model_.named_modules())
    if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(m)) bn->num_batches_tracked().fill_(static_cast<double>(v.at(i++)));
}

GraphStep::Result GraphStep::eager(const Tensor& x, const Tensor& y) {
  Tensor logits = model_(x);
  Tensor loss = cross_entropy(logits, y);
  opt_.zero_grad();
  loss.backward();
  opt_.step();
  return {loss.detach(), logits.detach(), false};
}

void GraphStep::capture(const GraphKey& k) {
  release();
  x_ = Tensor::empty(k.x_shape, DType::Float32, dev_);
  y_ = Tensor::empty({k.x_shape[0]}, DType::Int64, dev_);
  const std::vector<int64_t> before = batch_counts();
  kernels::capture_begin();
  try {
    Result r = eager(x_, y_);  // recorded, not run: nothing is computed until a replay
    loss_ = r.loss;
    logits_ = r.logits;
  } catch (...) {
    try {
      kernels::graph_destroy(kernels::capture_end());  // ends the broken capture; the step's error is the one to report
    } catch (...) {
    }
    loss_ = logits_ = x_ = y_ = Tensor();
    set_batch_counts(before);
    throw;
  }
  graph_ = kernels::capture_end();
  const std::vector<int64_t> after = batch_counts();
  count_delta_.resize(after.size());
  for (size_t i = 0; i < after.size(); ++i) count_delta_[i] = after[i] - before[i];
  set_batch_counts(before);  // the capture ran no batch
  ++captures_;
}

GraphStep::Result GraphStep::step(const Tensor& x, const Tensor& y) {
  LB_CHECK(
      x.dim() == 4 && y.dim() == 1 && y.size(0) == x.size(0) && x.dtype() == DType::Float32 &&
          y.dtype() == DType::Int64,
      "cuda graph: expected images (N, C, H, W) float32 and labels (N) int64, got " << x.str() << " and " << y.str());
  const GraphKey k = key_of(x);
  switch (policy_.next(k)) {
    case ReplayPolicy::Action::Eager:
      return eager(x.to(dev_), y.to(dev_));
    case ReplayPolicy::Action::Capture:
      try {
        capture(k);
      } catch (...) {
        policy_.capture_failed();
        throw;
      }
      break;
    case ReplayPolicy::Action::Replay:
      break;
  }
  x_.copy_(x);
  y_.copy_(y);
  opt_.prepare_replay();
  kernels::graph_replay(graph_);
  ++replays_;
  std::vector<int64_t> counts = batch_counts();
  for (size_t i = 0; i < counts.size(); ++i) counts[i] += count_delta_[i];
  set_batch_counts(counts);
  for (Tensor p : opt_.params()) p.mark_modified();  // the replay rewrote them in place
  // and the batch norms' running statistics: nn::FoldCache (eval's folded convs) keys on versions.
  for (auto [name, b] : model_.named_buffers()) b.mark_modified();
  return {loss_.clone(), logits_.clone(), true};
}

}  // namespace lb::models
