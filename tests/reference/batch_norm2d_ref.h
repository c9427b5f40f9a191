// batch_norm2d_ref.h: naive double-precision oracles for batch_norm2d, forward and backward.
//
// Shapes: x, y, dy, dx (N, C, H, W); weight, bias, running stats and their gradients (C).
// Inputs may be float32 or float64 (they are read as double); every result is float64. Nothing
// passed in is modified: the updated running statistics are returned instead.
// The backward is derived by a different route than the engine's: the chain rule through the
// batch mean and the batch variance step by step (Ioffe & Szegedy 2015, section 3), not the
// folded one-line formula of engine/cpu/batch_norm2d.h.
#pragma once

#include "engine/tensor.h"

namespace lb::ref {

struct BatchNorm2dForward {
  Tensor y;             // (N, C, H, W)
  Tensor running_mean;  // (C) after the update; undefined when none was given
  Tensor running_var;   // (C)
};

// weight/bias undefined mean affine=false; running stats undefined mean no tracking (training)
// and are required in eval.
BatchNorm2dForward batch_norm2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                        const Tensor& running_mean, const Tensor& running_var, bool training,
                                        double momentum, double eps);

struct BatchNorm2dGrads {
  Tensor dx;       // (N, C, H, W)
  Tensor dweight;  // (C)
  Tensor dbias;    // (C)
};

// Training differentiates through the batch statistics; eval treats the running statistics as
// constants. weight undefined means a weight of one.
BatchNorm2dGrads batch_norm2d_backward(const Tensor& x, const Tensor& weight, const Tensor& dy,
                                       const Tensor& running_mean, const Tensor& running_var, bool training,
                                       double eps);

}  // namespace lb::ref
