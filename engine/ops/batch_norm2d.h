// ops/batch_norm2d.h: batch normalisation over (N, H, W) per channel, with autograd, and the
// fused BN + residual add + ReLU of a ResNet block (batch_norm2d_relu).
//
// Shapes: x, residual (N, C, H, W); weight, bias, running_mean, running_var (C). weight/bias may be
// undefined (affine=false); running stats may be undefined in training (no tracking).
//   training: normalise with the batch mean and biased variance; if running stats are given,
//             update them in place: running = (1 - momentum) * running + momentum * batch_stat,
//             using the *unbiased* variance (n / (n - 1)) for running_var, like PyTorch.
//   eval:     normalise with the running statistics.
// Ioffe & Szegedy 2015; PyTorch's torch.nn.functional.batch_norm.
#pragma once

#include "engine/tensor.h"

namespace lb {

Tensor batch_norm2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor running_mean, Tensor running_var,
                    bool training, double momentum = 0.1, double eps = 1e-5);

// y = relu(batch_norm2d(x, ...) + residual): the BatchNorm, residual add and ReLU of a ResNet
// BasicBlock as one op with one autograd node (kind "batch_norm2d_relu"). residual may be
// undefined (y = relu(bn(x))); when given it must match x's shape, device and dtype. Arguments,
// checks and the running-statistics update are batch_norm2d's. Differentiable inputs: x, weight,
// bias, residual. Backward: g = dy * (y > 0), d_residual = g, then batch_norm2d's backward on g.
// On the CPU values and gradients are bit-identical to batch_norm2d, add_ and relu_ in a row.
// The node saves y (version-checked): an in-place write into y before backward is an error.
Tensor batch_norm2d_relu(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor running_mean,
                         Tensor running_var, bool training, double momentum = 0.1, double eps = 1e-5,
                         const Tensor& residual = Tensor());

}  // namespace lb
