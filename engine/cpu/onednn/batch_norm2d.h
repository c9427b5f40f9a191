// cpu/onednn/batch_norm2d.h: batch normalisation through oneDNN, the comparison backend of
// engine/cpu/batch_norm2d.h: same argument structs, same outputs, float32 only.
//
// Shapes, as in engine/cpu/batch_norm2d.h: x, y, dy, dx (N, C, HW); weight, bias, running stats,
// mean, invstd and their gradients (C). M = N * HW values per channel.
//
// Primitives: batch_normalization_forward (forward_training: batch statistics; forward_inference
// with use_global_stats: the running ones) and batch_normalization_backward (backward_data for dx
// alone, backward when dweight or dbias is wanted), flags use_scale / use_shift when the weight /
// bias exist (affine=false runs without them). Memory format: our NCHW as it is; a batch norm reads
// each value twice and does two flops on it, so a reorder into a blocked layout and back would cost
// more than it could save.
//
// Where our semantics go beyond oneDNN's, the wrapper does the rest, in double as our loops do:
//   - invstd = 1 / sqrt(var + eps) (C values) is computed from oneDNN's variance (training) or
//     running_var (eval); the backward gets it back as a variance (see batch_norm2d_backward).
//   - oneDNN has no running statistics: running_mean and running_var are updated here from the
//     batch mean and the biased variance oneDNN returns, PyTorch's rule: running = (1 - momentum) *
//     running + momentum * batch, with the unbiased variance var * M / (M - 1).
// oneDNN accumulates its sums in float (in blocks); ours accumulate in double, so results agree
// to float rounding, not bit for bit (tests/engine/test_onednn.cc states the tolerance).
#pragma once

#include "engine/cpu/batch_norm2d.h"
#include "engine/cpu/onednn/context.h"

namespace lb::cpu::onednn {

// Training: y, the batch mean and invstd; the running statistics (may be null) updated in place.
// weight and bias may be null.
void batch_norm2d_forward_train(Context& ctx, const BatchNorm2dArgs& a, const float* x, const float* weight,
                                const float* bias, float* y, float* mean, float* invstd, float* running_mean,
                                float* running_var);

// Eval: y with the running statistics; invstd = 1 / sqrt(running_var + eps) written out.
void batch_norm2d_forward_eval(Context& ctx, const BatchNorm2dArgs& a, const float* x, const float* weight,
                               const float* bias, const float* running_mean, const float* running_var, float* y,
                               float* invstd);

// Gradients, written where non-null (engine/cpu/batch_norm2d.h has the formulas). Unlike our loop
// this needs x even in eval mode without dweight (oneDNN's primitive takes src always); the op
// layer keeps that case on our loop. dbias non-null means the layer has a bias.
void batch_norm2d_backward(Context& ctx, const BatchNorm2dBackwardArgs& a, const float* x, const float* dy,
                           const float* mean, const float* invstd, const float* weight, float* dx, float* dweight,
                           float* dbias);

}  // namespace lb::cpu::onednn
