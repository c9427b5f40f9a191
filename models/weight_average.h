// weight_average.h: an exponential moving average of a model's weights (--ema DECAY), the model
// the trainer validates and checkpoints when EMA is on.
//
// After every optimizer step, each floating-point tensor of the state dict (parameters and batch
// norm's running mean and variance) moves toward the trained model's:
//   avg <- avg + (1 - d_t) (w - avg),   d_t = min(DECAY, (1 + t) / (10 + t)),  t = updates so far,
// and integer buffers (num_batches_tracked) are copied. The warm-up of d_t (TensorFlow's
// ExponentialMovingAverage with num_updates) keeps the first steps from averaging in the random
// initialisation: d_0 = 0.1, d_90 = 0.91, and DECAY from there. With DECAY 0.998 and 37 steps per
// epoch the average spans about 500 steps, 13 epochs; DECAY 0.99 about 100 steps, 3 epochs.
// Averaging the running statistics too (as timm's ModelEmaV2 does) keeps them consistent with
// the averaged weights, so the average needs no extra pass over the data to be evaluated.
//
// The average is a second ResNet18 on the model's device; the ops are add_ and sub, which run on
// both devices, so the average never leaves the device.
#pragma once

#include <cstdint>
#include <memory>

#include "models/resnet.h"

namespace lb::models {

class WeightAverage {
 public:
  // Starts as a copy of `model` (same shape, width and device). DECAY in (0, 1).
  WeightAverage(const ResNet18& model, double decay);
  // One step of the average toward `model`'s current state.
  void update(const ResNet18& model);
  // The decay the next update uses.
  double next_decay() const;
  ResNet18& model() { return *avg_; }
  int64_t updates() const { return updates_; }
  // For resume: the average's state and update count come back from the resume file.
  void restore(const nn::StateDict& sd, int64_t updates);

 private:
  std::shared_ptr<ResNet18> avg_;
  double decay_;
  int64_t updates_ = 0;
};

}  // namespace lb::models
