// cpu/batch_norm2d.h: the CPU loops behind batch_norm2d (training forward, eval forward, backward)
// and the two extra loops of the fused batch_norm2d_relu (add + ReLU epilogue, ReLU mask).
//
// Shapes (the letters of this file): x, y, dy, dx (N, C, HW) with HW = H * W, seen as N * C
// contiguous planes; weight, bias, running stats, mean, invstd and their gradients (C).
// M = N * HW values are normalised together in each channel.
//
// Every channel is independent, so OpenMP splits the channels; inside a channel the loops walk
// the N planes of HW contiguous values. Per-channel sums are accumulated in double: a float sum
// of 4 * 14 * 14 = 784 values (ResNet18's layer3 at batch 4) or 128 * 28 * 28 values (the stem at
// batch 128) would lose digits the variance and the backward's cancellation need.
//
// Follows Ioffe & Szegedy 2015 and PyTorch's torch.nn.functional.batch_norm (biased variance to
// normalise, unbiased variance n / (n - 1) for running_var).
#pragma once

#include <cstdint>

#include "kernels/shapes.h"

namespace lb::cpu {

// The sizes are kernels::BatchNormShape's (N, C, HW), shared with the CUDA side.
struct BatchNorm2dArgs : kernels::BatchNormShape {
  double eps = 1e-5;
  double momentum = 0.1;  // training only: running = (1 - momentum) * running + momentum * batch
};

// Training: y = (x - mean) * invstd * weight + bias with the batch mean and biased variance.
// Writes the batch mean and invstd = 1 / sqrt(var + eps) (C) for the backward. weight and bias may
// be null (affine=false). running_mean and running_var may be null (no tracking); when given they
// are updated in place with the unbiased variance. Needs M = N * HW > 1 (the caller checks).
template <class T>
void batch_norm2d_forward_train(const T* x, const T* weight, const T* bias, T* y, T* mean, T* invstd, T* running_mean,
                                T* running_var, const BatchNorm2dArgs& a);

// Eval: y = (x - running_mean) * invstd * weight + bias with invstd = 1 / sqrt(running_var + eps),
// which is also written out (C) so the backward never has to read the running stats again.
template <class T>
void batch_norm2d_forward_eval(const T* x, const T* weight, const T* bias, const T* running_mean, const T* running_var,
                               T* y, T* invstd, const BatchNorm2dArgs& a);

struct BatchNorm2dBackwardArgs : kernels::BatchNormShape {
  bool training = true;  // training: mean/invstd are batch statistics that depend on x
};

// Gradients of batch_norm2d. dx, dweight and dbias are written only when non-null (an input that
// needs no gradient costs nothing). With xhat = (x - mean) * invstd:
//   training  dx = weight * invstd * (dy - mean(dy) - xhat * mean(dy * xhat))
//   eval      dx = weight * invstd * dy                (the statistics are constants)
//   both      dweight = sum(dy * xhat), dbias = sum(dy) over (N, HW)
// x may be null when dweight is null and the mode is eval (nothing then reads xhat). weight may
// be null (affine=false: a weight of one).
template <class T>
void batch_norm2d_backward(const T* x, const T* dy, const T* mean, const T* invstd, const T* weight, T* dx, T* dweight,
                           T* dbias, const BatchNorm2dBackwardArgs& a);

// The epilogue of the fused batch_norm2d_relu, run over batch_norm2d's output y (n values):
// y = max(y + residual, 0) in place; residual may be null (y = max(y, 0)). The same arithmetic as
// add_ then relu_ (engine/cpu/elementwise.h), so the fused op matches the composition bit for bit.
template <class T>
void add_relu_inplace(T* y, const T* residual, int64_t n);

// The first step of batch_norm2d_relu's backward: g = dy where y > 0, else 0 (n values); g then
// goes through batch_norm2d_backward and is also the residual's gradient.
template <class T>
void relu_mask(const T* y, const T* dy, T* g, int64_t n);

}  // namespace lb::cpu
