// cpu/onednn/conv2d.cc: see conv2d.h. Shapes: x (N, C, H, W), w (K, C, R, S), y (N, K, P, Q).
//
// oneDNN computes the output size from the padding on both sides: P = (H + pad_l + pad_r - R) /
// stride + 1 with integer division, so passing PyTorch's symmetric `pad` on both sides gives the
// same P as ours even when the last stride does not reach the bottom padding.
//
// The backward primitives take the forward primitive descriptor as a hint (oneDNN picks matching
// layouts for the three directions of a layer); the hint is made, never run.
#include "engine/cpu/onednn/conv2d.h"

#include <algorithm>

#include "engine/cpu/onednn/dnnl_util.h"

namespace lb::cpu::onednn {

namespace {

using fwd = dnnl::convolution_forward;
using bwd_data = dnnl::convolution_backward_data;
using bwd_weights = dnnl::convolution_backward_weights;

struct ConvMds {
  dnnl::memory::desc x, w, y, bias;  // the caller's plain layouts
  Dims strides, pad;
};

ConvMds conv_mds(const Conv2dArgs& a) {
  return {plain_md({a.N, a.C, a.H, a.W}, Tag::nchw),
          plain_md({a.K, a.C, a.R, a.S}, Tag::oihw),
          plain_md({a.N, a.K, a.P, a.Q}, Tag::nchw),
          plain_md({a.K}, Tag::x),
          {a.stride, a.stride},
          {a.pad, a.pad}};
}

std::string describe(const Conv2dArgs& a) {
  return "x [" + std::to_string(a.N) + ", " + std::to_string(a.C) + ", " + std::to_string(a.H) + ", " +
         std::to_string(a.W) + "], weight [" + std::to_string(a.K) + ", " + std::to_string(a.C) + ", " +
         std::to_string(a.R) + ", " + std::to_string(a.S) + "], stride " + std::to_string(a.stride) + " pad " +
         std::to_string(a.pad);
}

// The forward descriptor in oneDNN's chosen layouts; also the backward primitives' hint.
fwd::primitive_desc forward_pd(Context& ctx, const Conv2dArgs& a, bool bias) {
  const ConvMds m = conv_mds(a);
  const Dims xd{a.N, a.C, a.H, a.W}, wd{a.K, a.C, a.R, a.S}, yd{a.N, a.K, a.P, a.Q};
  const fwd::desc d = bias ? fwd::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                       any_md(xd), any_md(wd), m.bias, any_md(yd), m.strides, m.pad, m.pad)
                           : fwd::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                       any_md(xd), any_md(wd), any_md(yd), m.strides, m.pad, m.pad);
  return fwd::primitive_desc(d, user_attr(), ctx.impl().engine);
}

}  // namespace

struct Conv2dPlan::Impl {
  std::string impl_name;
  std::unique_ptr<Step> step;
  // The DNNL_ARG_* ids behind run()'s in0, in1 and out.
  int in0 = 0, in1 = 0, out = 0;
};

namespace {

void make_forward(Context& ctx, const Conv2dArgs& a, bool bias, Conv2dPlan::Impl& p) {
  const ConvMds m = conv_mds(a);
  const fwd::primitive_desc pd = forward_pd(ctx, a, bias);
  p.step = std::make_unique<Step>(ctx, fwd(pd), pd.scratchpad_desc());
  p.step->input(DNNL_ARG_SRC, m.x, pd.src_desc());
  p.step->input(DNNL_ARG_WEIGHTS, m.w, pd.weights_desc());
  if (bias) p.step->input(DNNL_ARG_BIAS, m.bias, pd.bias_desc());
  p.step->output(DNNL_ARG_DST, m.y, pd.dst_desc());
  p.impl_name = implementation_of(pd);
  p.in0 = DNNL_ARG_SRC;
  p.in1 = DNNL_ARG_WEIGHTS;
  p.out = DNNL_ARG_DST;
}

void make_backward_input(Context& ctx, const Conv2dArgs& a, Conv2dPlan::Impl& p) {
  const ConvMds m = conv_mds(a);
  const Dims xd{a.N, a.C, a.H, a.W}, wd{a.K, a.C, a.R, a.S}, yd{a.N, a.K, a.P, a.Q};
  const bwd_data::desc d(dnnl::algorithm::convolution_direct, any_md(xd), any_md(wd), any_md(yd), m.strides, m.pad,
                         m.pad);
  const bwd_data::primitive_desc pd(d, user_attr(), ctx.impl().engine, forward_pd(ctx, a, false));
  p.step = std::make_unique<Step>(ctx, bwd_data(pd), pd.scratchpad_desc());
  p.step->input(DNNL_ARG_DIFF_DST, m.y, pd.diff_dst_desc());
  p.step->input(DNNL_ARG_WEIGHTS, m.w, pd.weights_desc());
  p.step->output(DNNL_ARG_DIFF_SRC, m.x, pd.diff_src_desc());
  p.impl_name = implementation_of(pd);
  p.in0 = DNNL_ARG_DIFF_DST;
  p.in1 = DNNL_ARG_WEIGHTS;
  p.out = DNNL_ARG_DIFF_SRC;
}

void make_backward_weight(Context& ctx, const Conv2dArgs& a, Conv2dPlan::Impl& p) {
  const ConvMds m = conv_mds(a);
  const Dims xd{a.N, a.C, a.H, a.W}, wd{a.K, a.C, a.R, a.S}, yd{a.N, a.K, a.P, a.Q};
  const bwd_weights::desc d(dnnl::algorithm::convolution_direct, any_md(xd), any_md(wd), any_md(yd), m.strides, m.pad,
                            m.pad);
  const bwd_weights::primitive_desc pd(d, user_attr(), ctx.impl().engine, forward_pd(ctx, a, false));
  p.step = std::make_unique<Step>(ctx, bwd_weights(pd), pd.scratchpad_desc());
  p.step->input(DNNL_ARG_SRC, m.x, pd.src_desc());
  p.step->input(DNNL_ARG_DIFF_DST, m.y, pd.diff_dst_desc());
  p.step->output(DNNL_ARG_DIFF_WEIGHTS, m.w, pd.diff_weights_desc());
  p.impl_name = implementation_of(pd);
  p.in0 = DNNL_ARG_SRC;
  p.in1 = DNNL_ARG_DIFF_DST;
  p.out = DNNL_ARG_DIFF_WEIGHTS;
}

}  // namespace

Conv2dPlan::Conv2dPlan(Context& ctx, const Conv2dArgs& a, ConvDirection d, bool bias) : impl_(new Impl) {
  LB_CHECK(!bias || d == ConvDirection::Forward,
           "oneDNN conv2d plan: a bias belongs to the forward direction; "
           "the bias gradient is conv2d_backward_bias");
  guarded("conv2d", describe(a), [&] {
    switch (d) {
      case ConvDirection::Forward:
        make_forward(ctx, a, bias, *impl_);
        break;
      case ConvDirection::BackwardInput:
        make_backward_input(ctx, a, *impl_);
        break;
      case ConvDirection::BackwardWeight:
        make_backward_weight(ctx, a, *impl_);
        break;
    }
  });
}

Conv2dPlan::~Conv2dPlan() = default;

void Conv2dPlan::run(const float* in0, const float* in1, const float* bias, float* out) {
  Step& s = *impl_->step;
  s.bind(impl_->in0, in0);
  s.bind(impl_->in1, in1);
  if (bias) s.bind(DNNL_ARG_BIAS, bias);
  s.bind(impl_->out, out);
  guarded("conv2d", "a planned convolution", [&] { s.run(); });
}

void Conv2dPlan::run_inner() {
  guarded("conv2d", "a planned convolution", [&] { impl_->step->run_inner(); });
}

const std::string& Conv2dPlan::implementation() const { return impl_->impl_name; }

// An empty batch (N == 0) computes nothing, and its weight and bias gradients are sums over no
// images: zero. oneDNN wants non-empty dims, so these never reach it.
void conv2d_forward(Context& ctx, const Conv2dArgs& a, const float* x, const float* w, const float* bias, float* y) {
  if (a.N == 0) return;
  Conv2dPlan(ctx, a, ConvDirection::Forward, bias != nullptr).run(x, w, bias, y);
}

void conv2d_backward_input(Context& ctx, const Conv2dArgs& a, const float* dy, const float* w, float* dx) {
  if (a.N == 0) return;
  Conv2dPlan(ctx, a, ConvDirection::BackwardInput).run(dy, w, nullptr, dx);
}

void conv2d_backward_weight(Context& ctx, const Conv2dArgs& a, const float* x, const float* dy, float* dw) {
  if (a.N == 0) return std::fill(dw, dw + a.K * a.C * a.R * a.S, 0.0f);
  Conv2dPlan(ctx, a, ConvDirection::BackwardWeight).run(x, dy, nullptr, dw);
}

void conv2d_backward_bias(Context& ctx, const Conv2dArgs& a, const float* dy, float* db) {
  if (a.N == 0) return std::fill(db, db + a.K, 0.0f);
  guarded("conv2d backward bias", describe(a), [&] {
    const dnnl::memory::desc src = plain_md({a.N, a.K, a.P, a.Q}, Tag::nchw), dst = plain_md({1, a.K, 1, 1}, Tag::nchw);
    const dnnl::reduction::primitive_desc pd(dnnl::reduction::desc(dnnl::algorithm::reduction_sum, src, dst, 0.f, 0.f),
                                             user_attr(), ctx.impl().engine);
    Step s(ctx, dnnl::reduction(pd), pd.scratchpad_desc());
    s.input(DNNL_ARG_SRC, src, pd.src_desc());
    s.output(DNNL_ARG_DST, dst, pd.dst_desc());
    s.bind(DNNL_ARG_SRC, dy);
    s.bind(DNNL_ARG_DST, db);
    s.run();
  });
}

}  // namespace lb::cpu::onednn
