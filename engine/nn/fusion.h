// nn/fusion.h: the process-wide switches for fused ops and batch-norm folding inside models, and
// the tests that say whether a module may use one right now.
//
// A fused op (batch_norm2d_relu: BN + residual add + ReLU in one op, engine/ops/batch_norm2d.h)
// replaces several module calls and several autograd nodes with one. That is invisible to
// training, but not to two things the explainers rely on:
//   - nn::Capture records a module's input and output in Module::operator(); a fused op skips
//     the calls of the modules it replaces, so a tap on them would see nothing;
//   - BackwardOverride swaps the backward of nodes by kind ("relu"); a fused node has another
//     kind, so DeepLIFT's rescale rule would silently not apply.
// can_fuse() therefore says no while fusion is switched off, while any override scope is alive in
// this thread (io_recording(): the conservative test, since which kinds a scope overrides is not
// public), or while a Capture in this thread wants one of the modules. Default: on.
//
// Folding (engine/nn/fold.h) goes one step further in eval mode: batch norm disappears into the
// convolution before it, so neither the conv nor the BatchNorm2d module is called. can_fold() is
// can_fuse() (the same taps and overrides keep it away) plus its own switch and eval mode.
// set_fusion(false) turns everything off (the module-by-module reference); set_folding(false)
// only the fold, leaving the fused batch_norm2d_relu of eval mode in its place. Default: on.
#pragma once

#include <initializer_list>

namespace lb::nn {

class Module;

void set_fusion(bool on);  // process-wide; tests and benchmarks compare on and off
bool fusion_enabled();

// Fusion enabled, no BackwardOverride scope in this thread, and no Capture in this thread listing
// any of `modules` (by their dotted names). Null entries are ignored.
bool can_fuse(std::initializer_list<const Module*> modules);

void set_folding(bool on);  // process-wide; off: eval runs BatchNorm2d as its own op again
bool folding_enabled();

// can_fuse(modules), folding enabled, and every module of `modules` in eval mode (a BatchNorm2d
// in training mode normalises with batch statistics and updates its running ones: no fixed affine
// map to fold). Null entries are ignored.
bool can_fold(std::initializer_list<const Module*> modules);

}  // namespace lb::nn
