// conv2d_plan.cuh: the host-side plan of a convolution, shared by both implicit-GEMM skeletons
// (kernels/conv2d.cu, v1, and lab/conv2d_v2.cu, v2) and by the host test of v2's index math
// (tests/lab/test_conv2d_v2_index.cc): the argument checks, the live filter taps and the
// ConvDims the kernels index with. Host code only; it compiles as plain C++.
#pragma once

#include <algorithm>
#include <cstdint>

#include "base/common.h"
#include "kernels/conv2d_tiles.cuh"
#include "kernels/shapes.h"

namespace lb::kernels::conv_impl {

// Output positions o in [0, n_out) read input index o*stride + offset: is any of them inside
// [0, n_in)? (engine/cpu/conv2d.cc's valid_range, lo < hi.)
inline bool tap_is_live(int64_t n_out, int64_t n_in, int64_t offset, int64_t stride) {
  const int64_t lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  const int64_t hi = n_in - 1 - offset < 0 ? 0 : std::min(n_out, (n_in - 1 - offset) / stride + 1);
  return lo < hi;
}

// Every GEMM extent and per-image size stays below this, so the kernels' 32-bit index math
// (and FastDiv, exact below 2^31) cannot overflow even after adding a tile.
constexpr int64_t kIndexLimit = int64_t(1) << 30;

struct Plan {
  ConvDims d;
  Taps taps;
  bool all_live;
};

inline Plan make_plan(const Conv2dShape& s, const char* what) {
  LB_CHECK(s.stride >= 1 && s.pad >= 0 && s.R >= 1 && s.S >= 1,
           what << ": bad stride " << s.stride << " / pad " << s.pad << " / filter " << s.R << "x" << s.S);
  LB_CHECK(s.R <= kMaxTapDim && s.S <= kMaxTapDim, what << ": filter " << s.R << "x" << s.S
                                                        << " is larger than the kernels' " << kMaxTapDim << "x"
                                                        << kMaxTapDim);
  LB_CHECK(s.P == (s.H + 2 * s.pad - s.R) / s.stride + 1 && s.Q == (s.W + 2 * s.pad - s.S) / s.stride + 1,
           what << ": output " << s.P << "x" << s.Q << " does not match input " << s.H << "x" << s.W);
  const int64_t extents[] = {s.N * s.P * s.Q, s.N * s.H * s.W, s.C * s.R * s.S,      s.K * s.R * s.S,
                             s.C * s.H * s.W, s.K * s.P * s.Q, s.K * s.C * s.R * s.S};
  for (int64_t e : extents)
    LB_CHECK(e < kIndexLimit, what << ": shape too large for 32-bit tile indices (N=" << s.N << " C=" << s.C
                                   << " H=" << s.H << " W=" << s.W << " K=" << s.K << ")");
  Plan plan{};
  Taps& t = plan.taps;
  for (int64_t r = 0; r < s.R; ++r)
    if (tap_is_live(s.P, s.H, r - s.pad, s.stride)) t.r[t.nr++] = static_cast<int>(r);
  for (int64_t c = 0; c < s.S; ++c)
    if (tap_is_live(s.Q, s.W, c - s.pad, s.stride)) t.s[t.ns++] = static_cast<int>(c);
  plan.all_live = t.nr == s.R && t.ns == s.S;
  ConvDims& d = plan.d;
  d.N = static_cast<int>(s.N), d.C = static_cast<int>(s.C), d.H = static_cast<int>(s.H), d.W = static_cast<int>(s.W);
  d.K = static_cast<int>(s.K), d.R = static_cast<int>(s.R), d.S = static_cast<int>(s.S);
  d.stride = static_cast<int>(s.stride), d.pad = static_cast<int>(s.pad);
  d.P = static_cast<int>(s.P), d.Q = static_cast<int>(s.Q);
  d.T = t.nr * t.ns, d.ns = t.ns, d.HW = d.H * d.W, d.PQ = d.P * d.Q, d.RS = d.R * d.S;
  d.dT = make_fastdiv(d.T), d.dns = make_fastdiv(d.ns), d.dPQ = make_fastdiv(d.PQ), d.dQ = make_fastdiv(d.Q);
  d.dHW = make_fastdiv(d.HW), d.dW = make_fastdiv(d.W), d.dstride = make_fastdiv(d.stride);
  return plan;
}

}  // namespace lb::kernels::conv_impl
