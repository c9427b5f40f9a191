// nn/fusion.h: the process-wide switch for fused ops inside models, and the test that says
// whether a module may use one right now.
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
#pragma once

#include <initializer_list>

namespace lb::nn {

class Module;

void set_fusion(bool on);  // process-wide; tests and benchmarks compare on and off
bool fusion_enabled();

// Fusion enabled, no BackwardOverride scope in this thread, and no Capture in this thread listing
// any of `modules` (by their dotted names). Null entries are ignored.
bool can_fuse(std::initializer_list<const Module*> modules);

}  // namespace lb::nn
