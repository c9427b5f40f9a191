// cpu/onednn/linear.cc: see linear.h. Shapes: x, dx (N, IN); w, dw (OUT, IN); bias (OUT);
// y, dy (N, OUT). Every buffer is plain, so no Step here reorders anything.
#include "engine/cpu/onednn/linear.h"

#include <algorithm>

#include "engine/cpu/onednn/dnnl_util.h"

namespace lb::cpu::onednn {

namespace {

using ip_fwd = dnnl::inner_product_forward;
using ip_bwd_data = dnnl::inner_product_backward_data;
using ip_bwd_weights = dnnl::inner_product_backward_weights;

struct LinearMds {
  dnnl::memory::desc x, w, y, bias;
};

LinearMds linear_mds(int64_t N, int64_t IN, int64_t OUT) {
  return {plain_md({N, IN}, Tag::nc), plain_md({OUT, IN}, Tag::oi), plain_md({N, OUT}, Tag::nc),
          plain_md({OUT}, Tag::x)};
}

std::string describe(int64_t N, int64_t IN, int64_t OUT) {
  return "x [" + std::to_string(N) + ", " + std::to_string(IN) + "], weight [" + std::to_string(OUT) + ", " +
         std::to_string(IN) + "]";
}

// The forward descriptor without bias: the backward primitives' hint.
ip_fwd::primitive_desc hint_pd(Context& ctx, const LinearMds& m) {
  return ip_fwd::primitive_desc(ip_fwd::desc(dnnl::prop_kind::forward_training, m.x, m.w, m.y), user_attr(),
                                ctx.impl().engine);
}

}  // namespace

void linear_forward(Context& ctx, int64_t N, int64_t IN, int64_t OUT, const float* x, const float* w, const float* bias,
                    float* y) {
  if (N == 0) return;  // an empty batch: nothing to compute (oneDNN wants non-empty dims)
  guarded("linear", describe(N, IN, OUT), [&] {
    const LinearMds m = linear_mds(N, IN, OUT);
    const auto prop = dnnl::prop_kind::forward_training;
    const ip_fwd::desc d = bias ? ip_fwd::desc(prop, m.x, m.w, m.bias, m.y) : ip_fwd::desc(prop, m.x, m.w, m.y);
    const ip_fwd::primitive_desc pd(d, user_attr(), ctx.impl().engine);
    Step s(ctx, ip_fwd(pd), pd.scratchpad_desc());
    s.input(DNNL_ARG_SRC, m.x, pd.src_desc());
    s.input(DNNL_ARG_WEIGHTS, m.w, pd.weights_desc());
    if (bias) s.input(DNNL_ARG_BIAS, m.bias, pd.bias_desc());
    s.output(DNNL_ARG_DST, m.y, pd.dst_desc());
    s.bind(DNNL_ARG_SRC, x);
    s.bind(DNNL_ARG_WEIGHTS, w);
    if (bias) s.bind(DNNL_ARG_BIAS, bias);
    s.bind(DNNL_ARG_DST, y);
    s.run();
  });
}

void linear_backward_input(Context& ctx, int64_t N, int64_t IN, int64_t OUT, const float* dy, const float* w,
                           float* dx) {
  if (N == 0) return;
  guarded("linear backward input", describe(N, IN, OUT), [&] {
    const LinearMds m = linear_mds(N, IN, OUT);
    const ip_bwd_data::primitive_desc pd(ip_bwd_data::desc(m.x, m.w, m.y), user_attr(), ctx.impl().engine,
                                         hint_pd(ctx, m));
    Step s(ctx, ip_bwd_data(pd), pd.scratchpad_desc());
    s.input(DNNL_ARG_DIFF_DST, m.y, pd.diff_dst_desc());
    s.input(DNNL_ARG_WEIGHTS, m.w, pd.weights_desc());
    s.output(DNNL_ARG_DIFF_SRC, m.x, pd.diff_src_desc());
    s.bind(DNNL_ARG_DIFF_DST, dy);
    s.bind(DNNL_ARG_WEIGHTS, w);
    s.bind(DNNL_ARG_DIFF_SRC, dx);
    s.run();
  });
}

void linear_backward_weight(Context& ctx, int64_t N, int64_t IN, int64_t OUT, const float* x, const float* dy,
                            float* dw) {
  if (N == 0) {  // a sum over no rows
    std::fill(dw, dw + OUT * IN, 0.0f);
    return;
  }
  guarded("linear backward weight", describe(N, IN, OUT), [&] {
    const LinearMds m = linear_mds(N, IN, OUT);
    const ip_bwd_weights::primitive_desc pd(ip_bwd_weights::desc(m.x, m.w, m.y), user_attr(), ctx.impl().engine,
                                            hint_pd(ctx, m));
    Step s(ctx, ip_bwd_weights(pd), pd.scratchpad_desc());
    s.input(DNNL_ARG_SRC, m.x, pd.src_desc());
    s.input(DNNL_ARG_DIFF_DST, m.y, pd.diff_dst_desc());
    s.output(DNNL_ARG_DIFF_WEIGHTS, m.w, pd.diff_weights_desc());
    s.bind(DNNL_ARG_SRC, x);
    s.bind(DNNL_ARG_DIFF_DST, dy);
    s.bind(DNNL_ARG_DIFF_WEIGHTS, dw);
    s.run();
  });
}

}  // namespace lb::cpu::onednn
