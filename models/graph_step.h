// models/graph_step.h: a training step recorded once as a CUDA Graph and replayed per batch.
//
// At 28x28 a ResNet18 training step is ~400 kernels of a few microseconds each, and launching them
// one by one costs as much as running them. A replay submits the whole recorded step (forward,
// cross-entropy, backward, optimizer update) with one call. What a replay cannot do, and how this
// class makes up for it:
//   - read new inputs: the graph reads fixed device buffers, so each batch is first copied into
//     them (stream-ordered, like every copy in kernels/runtime.cuh);
//   - run host code: the learning rate and AdamW's bias corrections reach the update kernels
//     through the optimizer's device table (Optimizer::prepare_replay() before each replay), and
//     BatchNorm's host-side num_batches_tracked, which the capture bumped once without running a
//     batch, is restored after the capture and advanced here after every replay;
//   - change shape or structure: the graph is keyed on the batch shape and on which parameters
//     train. A batch under another key (an epoch's short last batch) runs eagerly; a key seen on
//     two consecutive batches (after unfreezing a stage, say) is captured anew.
// The first batch under a new key always runs eagerly: it creates the optimizer state (momentum
// buffers, Adam moments) and warms the allocator, neither of which may happen inside a capture.
//
// Replayed and eager steps run the same kernels in the same order on the same data, so a run
// with graphs follows the eager run step for step (tests/models/test_graph_step_cuda.cc); only
// atomics-based kernels (max-pool backward's overlapping windows) make either differ from itself.
#pragma once

#include <vector>

#include "engine/nn/module.h"
#include "engine/optim/optimizer.h"
#include "engine/tensor.h"

namespace lb::models {

// What a GraphStep does with a batch, decided from its key alone (no CUDA here, so the rule is
// tested on every machine: tests/models/test_graph_policy.cc).
struct GraphKey {
  Shape x_shape;
  std::vector<bool> trainable;  // requires_grad of each optimizer parameter, in order
  bool operator==(const GraphKey& o) const { return x_shape == o.x_shape && trainable == o.trainable; }
};

class ReplayPolicy {
 public:
  enum class Action { Eager, Capture, Replay };
  // Replay under the captured key; capture a key seen on the batch just before (its eager step
  // made the optimizer state); anything else runs eagerly and becomes the key to watch for.
  Action next(const GraphKey& k);
  // The graph was not made after all (the capture threw): the next batch decides afresh.
  void capture_failed() { have_graph_ = false; }

 private:
  GraphKey graph_key_, last_eager_key_;
  bool have_graph_ = false, have_eager_key_ = false;
};

// One line and a throw unless a step on `dev` can be captured now: a CUDA device and the custom
// kernels (the cuDNN backend's captured step is not trusted; see docs/10-cuda.md). The trainer
// calls it before any output, GraphStep's constructor again.
void check_graph_supported(Device dev);

class GraphStep {
 public:
  // `model` and `opt` must outlive this object; every trainable parameter must be on one CUDA
  // device, with the custom kernels (the cuDNN backend's captured step is not trusted; see
  // docs/10-cuda.md).
  GraphStep(nn::Module& model, optim::Optimizer& opt);
  ~GraphStep();
  GraphStep(const GraphStep&) = delete;
  GraphStep& operator=(const GraphStep&) = delete;

  struct Result {
    Tensor loss;    // 0-dim float32 on the device: this batch's mean cross-entropy
    Tensor logits;  // (N, classes) on the device
    bool replayed;  // false: this batch ran eagerly
  };
  // Trains the model (in training mode) on one batch: x (N, C, H, W) float32, y (N) int64, on any
  // device. The optimizer's lr must already be set for this step. The tensors returned are the
  // caller's own (copies when replayed), so they stay valid across later steps.
  Result step(const Tensor& x, const Tensor& y);

  int64_t captures() const { return captures_; }
  int64_t replays() const { return replays_; }

 private:
  GraphKey key_of(const Tensor& x) const;
  Result eager(const Tensor& x, const Tensor& y);  // x, y on the device
  void capture(const GraphKey& k);
  void release();
  std::vector<int64_t> batch_counts() const;  // every BatchNorm's num_batches_tracked
  void set_batch_counts(const std::vector<int64_t>& v);

  nn::Module& model_;
  optim::Optimizer& opt_;
  Device dev_;
  void* graph_ = nullptr;
  ReplayPolicy policy_;
  Tensor x_, y_, loss_, logits_;      // the graph's fixed inputs and outputs
  std::vector<int64_t> count_delta_;  // num_batches_tracked added by one captured step, per BN
  int64_t captures_ = 0, replays_ = 0;
};

}  // namespace lb::models
