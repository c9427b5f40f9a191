// cpu/onednn/batch_norm2d.cc: see batch_norm2d.h. Shapes: x, y, dy, dx (N, C, HW) seen by oneDNN
// as NCHW with H = HW, W = 1 (the same bytes); per-channel vectors (C).
#include "engine/cpu/onednn/batch_norm2d.h"

#include <cmath>
#include <vector>

#include "engine/cpu/onednn/dnnl_util.h"

namespace lb::cpu::onednn {

namespace {

using bn_fwd = dnnl::batch_normalization_forward;
using bn_bwd = dnnl::batch_normalization_backward;
using Flags = dnnl::normalization_flags;

dnnl::memory::desc data_md(int64_t N, int64_t C, int64_t HW) { return plain_md({N, C, HW, 1}, Tag::nchw); }
dnnl::memory::desc channel_md(int64_t C) { return plain_md({C}, Tag::x); }

std::string describe(int64_t N, int64_t C, int64_t HW) {
  return "x [" + std::to_string(N) + ", " + std::to_string(C) + ", HW=" + std::to_string(HW) + "]";
}

Flags affine_flags(bool scale, bool shift) {
  Flags f = Flags::none;
  if (scale) f = f | Flags::use_scale;
  if (shift) f = f | Flags::use_shift;
  return f;
}

// A per-channel argument with the same (plain) layout on both sides: no reorder.
void channel_arg(Step& s, int arg, int64_t C, const float* p, bool is_input) {
  const dnnl::memory::desc md = channel_md(C);
  if (is_input)
    s.input(arg, md, md);
  else
    s.output(arg, md, md);
  s.bind(arg, p);
}

// The forward pass of either mode; `stats` are oneDNN's mean and variance (outputs when training,
// the running statistics as inputs in eval).
void forward(Context& ctx, const BatchNorm2dArgs& a, bool training, const float* x, const float* weight,
             const float* bias, float* y, const float* mean, const float* var) {
  const dnnl::memory::desc md = data_md(a.N, a.C, a.HW);
  Flags flags = affine_flags(weight != nullptr, bias != nullptr);
  if (!training) flags = flags | Flags::use_global_stats;
  const auto prop = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
  const bn_fwd::primitive_desc pd(bn_fwd::desc(prop, md, static_cast<float>(a.eps), flags), user_attr(),
                                  ctx.impl().engine);
  Step s(ctx, bn_fwd(pd), pd.scratchpad_desc());
  s.input(DNNL_ARG_SRC, md, pd.src_desc());
  s.output(DNNL_ARG_DST, md, pd.dst_desc());
  s.bind(DNNL_ARG_SRC, x);
  s.bind(DNNL_ARG_DST, y);
  channel_arg(s, DNNL_ARG_MEAN, a.C, mean, !training);
  channel_arg(s, DNNL_ARG_VARIANCE, a.C, var, !training);
  if (weight) channel_arg(s, DNNL_ARG_SCALE, a.C, weight, true);
  if (bias) channel_arg(s, DNNL_ARG_SHIFT, a.C, bias, true);
  s.run();
}

}  // namespace

void batch_norm2d_forward_train(Context& ctx, const BatchNorm2dArgs& a, const float* x, const float* weight,
                                const float* bias, float* y, float* mean, float* invstd, float* running_mean,
                                float* running_var) {
  std::vector<float> var(static_cast<size_t>(a.C));  // (C) biased batch variance
  guarded("batch_norm2d", describe(a.N, a.C, a.HW),
          [&] { forward(ctx, a, true, x, weight, bias, y, mean, var.data()); });
  const double M = static_cast<double>(a.N * a.HW), keep = 1.0 - a.momentum;
  for (int64_t c = 0; c < a.C; ++c) {
    const double v = var[c];
    invstd[c] = static_cast<float>(1.0 / std::sqrt(v + a.eps));
    if (running_mean) {
      running_mean[c] = static_cast<float>(keep * running_mean[c] + a.momentum * mean[c]);
      running_var[c] = static_cast<float>(keep * running_var[c] + a.momentum * v * M / (M - 1.0));
    }
  }
}

void batch_norm2d_forward_eval(Context& ctx, const BatchNorm2dArgs& a, const float* x, const float* weight,
                               const float* bias, const float* running_mean, const float* running_var, float* y,
                               float* invstd) {
  guarded("batch_norm2d (eval)", describe(a.N, a.C, a.HW),
          [&] { forward(ctx, a, false, x, weight, bias, y, running_mean, running_var); });
  for (int64_t c = 0; c < a.C; ++c)
    invstd[c] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(running_var[c]) + a.eps));
}

namespace {

// The backward takes (mean, variance, eps) where our nodes keep (mean, invstd): we hand it
// variance = 1 / invstd^2 and eps = 0, so oneDNN's 1 / sqrt(variance + eps) is our invstd again
// (to a rounding) whatever eps the forward used.
void backward(Context& ctx, const BatchNorm2dBackwardArgs& a, const float* x, const float* dy, const float* mean,
              const float* var, const float* weight, float* dx, float* dweight, float* dbias) {
  const dnnl::memory::desc md = data_md(a.N, a.C, a.HW);
  const bool params = dweight != nullptr || dbias != nullptr;
  // backward (all diffs) needs use_shift for dbias; backward_data takes the weight alone.
  Flags flags = affine_flags(weight != nullptr, params && dbias != nullptr);
  if (!a.training) flags = flags | Flags::use_global_stats;
  const dnnl::engine& eng = ctx.impl().engine;
  const bn_fwd::primitive_desc hint(bn_fwd::desc(dnnl::prop_kind::forward_training, md, 0.f, flags), user_attr(), eng);
  const auto prop = params ? dnnl::prop_kind::backward : dnnl::prop_kind::backward_data;
  const bn_bwd::primitive_desc pd(bn_bwd::desc(prop, md, md, 0.f, flags), user_attr(), eng, hint);
  Step s(ctx, bn_bwd(pd), pd.scratchpad_desc());
  s.input(DNNL_ARG_SRC, md, pd.src_desc());
  s.input(DNNL_ARG_DIFF_DST, md, pd.diff_dst_desc());
  s.output(DNNL_ARG_DIFF_SRC, md, pd.diff_src_desc());
  s.bind(DNNL_ARG_SRC, x);
  s.bind(DNNL_ARG_DIFF_DST, dy);
  s.bind(DNNL_ARG_DIFF_SRC, dx);
  channel_arg(s, DNNL_ARG_MEAN, a.C, mean, true);
  channel_arg(s, DNNL_ARG_VARIANCE, a.C, var, true);
  std::vector<float> spare(static_cast<size_t>(a.C));  // (C) a diff oneDNN computes that nobody wants
  if (weight) channel_arg(s, DNNL_ARG_SCALE, a.C, weight, true);
  if (weight && params) channel_arg(s, DNNL_ARG_DIFF_SCALE, a.C, dweight ? dweight : spare.data(), false);
  // With use_shift the primitive also takes the shift as an input (only its fused-ReLU variant
  // reads it); the gradients do not depend on it, so zeros stand in for the bias we do not keep.
  std::vector<float> zeros(static_cast<size_t>(a.C), 0.0f);  // (C)
  if (params && dbias) {
    channel_arg(s, DNNL_ARG_SHIFT, a.C, zeros.data(), true);
    channel_arg(s, DNNL_ARG_DIFF_SHIFT, a.C, dbias, false);
  }
  s.run();
}

}  // namespace

void batch_norm2d_backward(Context& ctx, const BatchNorm2dBackwardArgs& a, const float* x, const float* dy,
                           const float* mean, const float* invstd, const float* weight, float* dx, float* dweight,
                           float* dbias) {
  LB_CHECK(x != nullptr,
           "batch_norm2d backward (oneDNN): the input x is needed; keep this case on lightbox's loop "
           "(engine/ops/batch_norm2d.cc does)");
  std::vector<float> var(static_cast<size_t>(a.C));  // (C) 1 / invstd^2
  for (int64_t c = 0; c < a.C; ++c) var[c] = static_cast<float>(1.0 / (static_cast<double>(invstd[c]) * invstd[c]));
  std::vector<float> spare_dx;  // (N, C, HW) when dx is not wanted: oneDNN always writes it
  if (!dx) {
    spare_dx.resize(static_cast<size_t>(a.N * a.C * a.HW));
    dx = spare_dx.data();
  }
  guarded("batch_norm2d backward", describe(a.N, a.C, a.HW),
          [&] { backward(ctx, a, x, dy, mean, var.data(), weight, dx, dweight, dbias); });
}

}  // namespace lb::cpu::onednn
