// cpu/onednn/conv2d.h: 2-D convolution through oneDNN, the comparison backend of
// engine/cpu/conv2d.h (same sizes struct, same semantics: cross-correlation, zero padding, square
// stride; float32 only).
//
// Shapes, as in engine/cpu/conv2d.h:
//   x, dx (N, C, H, W)   weight, dw (K, C, R, S)   bias, db (K)   y, dy (N, K, P, Q)
//
// Primitives (oneDNN 2.x): convolution_forward (forward_training, with bias), convolution_backward_data
// (dx), convolution_backward_weights (dw), all with algorithm convolution_direct (never Winograd,
// whose different rounding would blur the comparison), and a reduction (sum over N, P, Q) for db.
// Memory formats: every conv primitive is created with format `any`, so oneDNN picks its blocked
// layouts (nChw16c and OIhw16i16o on AVX-512 machines, 8-wide blocks on AVX2); our NCHW / KCRS
// buffers are reordered into them and the result back on every call (dnnl_util.h's Step).
//
// A Conv2dPlan is one direction of one layer shape: the primitive descriptor, the primitive, its
// scratchpad and blocked buffers, made once. The functions below make a plan and run it once,
// which is what the op layer (engine/ops/conv2d.cc) does per call; oneDNN's primitive cache makes
// the second plan of a shape cheap. `lightbox bench kernels --device cpu` times plans.
#pragma once

#include <memory>
#include <string>

#include "engine/cpu/conv2d.h"
#include "engine/cpu/onednn/context.h"

namespace lb::cpu::onednn {

enum class ConvDirection { Forward, BackwardInput, BackwardWeight };

class Conv2dPlan {
 public:
  // bias: forward only (a bias argument to add).
  Conv2dPlan(Context& ctx, const Conv2dArgs& a, ConvDirection d, bool bias = false);
  ~Conv2dPlan();
  Conv2dPlan(const Conv2dPlan&) = delete;
  Conv2dPlan& operator=(const Conv2dPlan&) = delete;

  //   Forward         run(x, w, bias or null, y)
  //   BackwardInput   run(dy, w, null, dx)
  //   BackwardWeight  run(x, dy, null, dw)
  void run(const float* in0, const float* in1, const float* bias, float* out);
  // The primitive alone on its own (blocked) layouts, reorders skipped; the buffers hold what the
  // last run() left, so call run() once first. Timing only: nothing comes back to the caller.
  void run_inner();
  // oneDNN's name for the kernel it chose, e.g. "brgconv:avx512_core" (bench tables, JSON).
  const std::string& implementation() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// y = conv(x, W) + b; bias may be null.
void conv2d_forward(Context& ctx, const Conv2dArgs& a, const float* x, const float* w, const float* bias, float* y);
// dx given dy and W.
void conv2d_backward_input(Context& ctx, const Conv2dArgs& a, const float* dy, const float* w, float* dx);
// dw given x and dy (a fresh gradient, not accumulated into).
void conv2d_backward_weight(Context& ctx, const Conv2dArgs& a, const float* x, const float* dy, float* dw);
// db = the sum of dy over (N, P, Q), a oneDNN reduction.
void conv2d_backward_bias(Context& ctx, const Conv2dArgs& a, const float* dy, float* db);

}  // namespace lb::cpu::onednn
