// cpu/onednn/pool2d.cc: see pool2d.h. Shapes: x, dx (N, C, H, W); y, dy (N, C, P, Q).
#include "engine/cpu/onednn/pool2d.h"

#include "engine/cpu/onednn/dnnl_util.h"

namespace lb::cpu::onednn {

struct MaxPool2dPlan::Impl {
  std::string impl_name;
  std::unique_ptr<Step> fwd, bwd;
  dnnl::memory ws;  // the forward's workspace, read by the backward
};

namespace {

std::string describe(int64_t N, int64_t C, const MaxPool2dArgs& a) {
  return "x [" + std::to_string(N) + ", " + std::to_string(C) + ", " + std::to_string(a.H) + ", " +
         std::to_string(a.W) + "], kernel " + std::to_string(a.kernel) + " stride " + std::to_string(a.stride) +
         " pad " + std::to_string(a.padding);
}

void make(Context& ctx, int64_t N, int64_t C, const MaxPool2dArgs& a, MaxPool2dPlan::Impl& p) {
  const dnnl::memory::desc x = plain_md({N, C, a.H, a.W}, Tag::nchw), y = plain_md({N, C, a.P, a.Q}, Tag::nchw);
  const Dims strides{a.stride, a.stride}, kernel{a.kernel, a.kernel}, pad{a.padding, a.padding};
  const dnnl::engine& eng = ctx.impl().engine;
  using fwd = dnnl::pooling_forward;
  using bwd = dnnl::pooling_backward;
  const fwd::primitive_desc fpd(
      fwd::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::pooling_max, x, y, strides, kernel, pad, pad),
      user_attr(), eng);
  const bwd::primitive_desc bpd(bwd::desc(dnnl::algorithm::pooling_max, x, y, strides, kernel, pad, pad), user_attr(),
                                eng, fpd);
  p.impl_name = implementation_of(fpd);
  p.fwd = std::make_unique<Step>(ctx, fwd(fpd), fpd.scratchpad_desc());
  p.fwd->input(DNNL_ARG_SRC, x, fpd.src_desc());
  p.fwd->output(DNNL_ARG_DST, y, fpd.dst_desc());
  p.bwd = std::make_unique<Step>(ctx, bwd(bpd), bpd.scratchpad_desc());
  p.bwd->input(DNNL_ARG_DIFF_DST, y, bpd.diff_dst_desc());
  p.bwd->output(DNNL_ARG_DIFF_SRC, x, bpd.diff_src_desc());
  // The workspace: one buffer both steps see (oneDNN allocates it; its layout is oneDNN's own).
  dnnl::memory ws(fpd.workspace_desc(), eng);
  p.fwd->output(DNNL_ARG_WORKSPACE, fpd.workspace_desc(), fpd.workspace_desc());
  p.fwd->bind(DNNL_ARG_WORKSPACE, ws.get_data_handle());
  p.bwd->input(DNNL_ARG_WORKSPACE, fpd.workspace_desc(), fpd.workspace_desc());
  p.bwd->bind(DNNL_ARG_WORKSPACE, ws.get_data_handle());
  p.ws = ws;
}

}  // namespace

MaxPool2dPlan::MaxPool2dPlan(Context& ctx, int64_t N, int64_t C, const MaxPool2dArgs& a) : impl_(new Impl) {
  LB_CHECK(N * C == a.planes, "oneDNN max pool plan: N * C = " << N * C << " but the arguments have " << a.planes
                                                               << " planes; pass the batch and the channel count");
  guarded("max_pool2d", describe(N, C, a), [&] { make(ctx, N, C, a, *impl_); });
}

MaxPool2dPlan::~MaxPool2dPlan() = default;

void MaxPool2dPlan::forward(const float* x, float* y) {
  impl_->fwd->bind(DNNL_ARG_SRC, x);
  impl_->fwd->bind(DNNL_ARG_DST, y);
  guarded("max_pool2d", "a planned pooling", [&] { impl_->fwd->run(); });
}

void MaxPool2dPlan::backward(const float* dy, float* dx) {
  impl_->bwd->bind(DNNL_ARG_DIFF_DST, dy);
  impl_->bwd->bind(DNNL_ARG_DIFF_SRC, dx);
  guarded("max_pool2d backward", "a planned pooling", [&] { impl_->bwd->run(); });
}

const std::string& MaxPool2dPlan::implementation() const { return impl_->impl_name; }

}  // namespace lb::cpu::onednn
