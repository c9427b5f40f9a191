// ops/batch_norm2d.h: batch normalisation over (N, H, W) per channel, with autograd.
//
// Shapes: x (N, C, H, W); weight, bias, running_mean, running_var (C). weight/bias may be
// undefined (affine=false); running stats may be undefined in training (no tracking).
//   training: normalise with the batch mean and biased variance; if running stats are given,
//             update them in place: running = (1 - momentum) * running + momentum * batch_stat,
//             using the *unbiased* variance (n / (n - 1)) for running_var, like PyTorch.
//   eval:     normalise with the running statistics.
// Ioffe & Szegedy 2015; PyTorch's torch.nn.functional.batch_norm.
#pragma once

#include "engine/tensor.h"

namespace lb {

Tensor batch_norm2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor running_mean,
                    Tensor running_var, bool training, double momentum = 0.1, double eps = 1e-5);

}  // namespace lb
