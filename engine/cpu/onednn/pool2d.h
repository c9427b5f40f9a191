// cpu/onednn/pool2d.h: max pooling through oneDNN, for `lightbox bench kernels --device cpu` only.
//
// Shapes: x, dx (N, C, H, W); y, dy (N, C, P, Q); the sizes of engine/cpu/pool2d.h's
// MaxPool2dArgs (planes = N * C).
//
// Why the ops do not dispatch here (max_pool2d keeps lightbox's loops under --backend onednn, as it
// keeps our kernels under --backend cudnn on the GPU): our max_pool2d returns, and its backward
// reads, int64 indices, the flat h * W + w of each window's maximum, the first one in row-major
// order on a tie, and a NaN counts as the maximum (PyTorch's contract; explainers read them).
// oneDNN's forward_training keeps instead an opaque workspace (its layout and type are its own,
// e.g. a u8 offset inside the window), and its max skips a NaN. Making the two agree would mean
// decoding a private format, so oneDNN pooling is measured here as a yardstick, on the same
// inputs, and its values are checked against ours on data without ties or NaN.
//
// Primitives: pooling_forward (forward_training, algorithm pooling_max, the workspace kept in the
// plan) and pooling_backward (reads that workspace); memory format: our NCHW as it is (pooling
// does one comparison per value read; a reorder would cost more than the op).
#pragma once

#include <memory>
#include <string>

#include "engine/cpu/onednn/context.h"
#include "engine/cpu/pool2d.h"

namespace lb::cpu::onednn {

class MaxPool2dPlan {
 public:
  // N * C must equal a.planes (oneDNN wants the channels, its kernels vectorise across them).
  MaxPool2dPlan(Context& ctx, int64_t N, int64_t C, const MaxPool2dArgs& a);
  ~MaxPool2dPlan();
  MaxPool2dPlan(const MaxPool2dPlan&) = delete;
  MaxPool2dPlan& operator=(const MaxPool2dPlan&) = delete;

  void forward(const float* x, float* y);     // fills the plan's workspace
  void backward(const float* dy, float* dx);  // after forward(): reads its workspace
  const std::string& implementation() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace lb::cpu::onednn
