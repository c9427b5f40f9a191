// test_onednn.cc: the oneDNN comparison backend (engine/cpu/onednn/) against lightbox's own CPU
// backend (engine/cpu/), which the rest of the suite checks against double-precision oracles.
//
// Wrappers, on ResNet18-like shapes with small channels (the 7x7/2 stem on one channel, 3x3/1,
// 3x3/2, the 1x1/2 downsample, 3x3 on 2x2 and 1x1 maps as in layer4 at 28x28):
//   conv2d       forward (with and without bias), backward input, backward weight, backward bias
//   batch norm   training forward (y, mean, invstd, running stats), eval forward, backward in both
//                modes, with and without the affine weight and bias
//   max pool     the bench's plan: values and dx
//   linear       forward with bias, backward input, backward weight
// Then the dispatch (engine/ops/ under CpuBackend::Onednn): a small ResNet-like graph (conv, fused
// BN + ReLU with a residual, max pool, strided conv, BN, linear) trained one step under both
// backends gives the same outputs, gradients and running statistics within tolerance and NOT bit for
// bit (so oneDNN really ran); float64 stays on our loops bit for bit; bf16 is refused.
// And the FMA peak probe (engine/cpu/fma_peak.h) reports a rate a real core can reach.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/cpu/batch_norm2d.h"
#include "engine/cpu/conv2d.h"
#include "engine/cpu/fma_peak.h"
#include "engine/cpu/linear.h"
#include "engine/cpu/onednn/batch_norm2d.h"
#include "engine/cpu/onednn/conv2d.h"
#include "engine/cpu/onednn/linear.h"
#include "engine/cpu/onednn/pool2d.h"
#include "engine/cpu/pool2d.h"
#include "engine/ops/ops.h"
#include "tests/support/check.h"

namespace lb {
namespace {

using Buf = std::vector<float>;
namespace dnn = cpu::onednn;

Buf random_buf(size_t n, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  const Tensor t = test::random_tensor({static_cast<int64_t>(n)}, seed, DType::Float32, lo, hi);
  return Buf(t.data<float>(), t.data<float>() + n);
}

double rel_l2(const Buf& got, const Buf& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    num += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
    den += double(want[i]) * want[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

// Sums of at most C*R*S = 16*49 products (or N*P*Q = 2*196 for dW and db) in another order than
// ours: float32 rounding gives relative L2 differences of ~1e-7; a wrong tap, padding side, stride
// or transposed weight gives > 1e-2.
constexpr double kConvTol = 1e-5;

cpu::Conv2dArgs conv_args(int64_t N, int64_t C, int64_t H, int64_t K, int64_t R, int64_t stride, int64_t pad) {
  const int64_t P = (H + 2 * pad - R) / stride + 1;
  return {N, C, H, H, K, R, R, stride, pad, P, P};
}

// ResNet18's conv kinds at small channels.
std::vector<std::pair<std::string, cpu::Conv2dArgs>> conv_cases() {
  return {{"stem 7x7/2", conv_args(2, 1, 28, 8, 7, 2, 3)},    {"3x3/1", conv_args(2, 8, 7, 8, 3, 1, 1)},
          {"3x3/2", conv_args(2, 8, 7, 16, 3, 2, 1)},         {"1x1/2 downsample", conv_args(2, 8, 7, 16, 1, 2, 0)},
          {"3x3/2 to 1x1", conv_args(3, 16, 2, 16, 3, 2, 1)}, {"3x3/1 on 1x1", conv_args(3, 16, 1, 16, 3, 1, 1)}};
}

TEST(Onednn, Conv2dEveryDirectionMatchesOwn) {
  dnn::Context ctx;
  for (const auto& [name, a] : conv_cases()) {
    SCOPED_TRACE(name);
    const Buf x = random_buf(a.N * a.C * a.H * a.W, 1), w = random_buf(a.K * a.C * a.R * a.S, 2),
              b = random_buf(a.K, 3), dy = random_buf(a.N * a.K * a.P * a.Q, 4);
    Buf want(dy.size()), got(dy.size());  // y (N, K, P, Q)
    for (const float* bias : {static_cast<const float*>(nullptr), b.data()}) {
      cpu::conv2d_forward<float>(a, x.data(), w.data(), bias, want.data());
      dnn::conv2d_forward(ctx, a, x.data(), w.data(), bias, got.data());
      EXPECT_LE(rel_l2(got, want), kConvTol) << "forward, bias " << (bias != nullptr);
    }
    Buf dx_want(x.size()), dx(x.size());  // (N, C, H, W)
    cpu::conv2d_backward_input<float>(a, dy.data(), w.data(), dx_want.data());
    dnn::conv2d_backward_input(ctx, a, dy.data(), w.data(), dx.data());
    EXPECT_LE(rel_l2(dx, dx_want), kConvTol) << "backward input";
    Buf dw_want(w.size()), dw(w.size());  // (K, C, R, S)
    cpu::conv2d_backward_weight<float>(a, x.data(), dy.data(), dw_want.data());
    dnn::conv2d_backward_weight(ctx, a, x.data(), dy.data(), dw.data());
    EXPECT_LE(rel_l2(dw, dw_want), kConvTol) << "backward weight";
    Buf db_want(b.size()), db(b.size());  // (K)
    cpu::conv2d_backward_bias<float>(a, dy.data(), db_want.data());
    dnn::conv2d_backward_bias(ctx, a, dy.data(), db.data());
    EXPECT_LE(rel_l2(db, db_want), kConvTol) << "backward bias";
  }
}

// The plan's blocked-layout run (what the bench times) computes what run() computed.
TEST(Onednn, Conv2dPlanNamesItsKernelAndRunsInnerOnTheSameData) {
  dnn::Context ctx;
  const cpu::Conv2dArgs a = conv_args(2, 16, 7, 16, 3, 1, 1);
  const Buf x = random_buf(a.N * a.C * a.H * a.W, 5), w = random_buf(a.K * a.C * a.R * a.S, 6);
  Buf y(a.N * a.K * a.P * a.Q), want(y.size());
  cpu::conv2d_forward<float>(a, x.data(), w.data(), nullptr, want.data());
  dnn::Conv2dPlan plan(ctx, a, dnn::ConvDirection::Forward);
  plan.run(x.data(), w.data(), nullptr, y.data());
  plan.run_inner();  // must not touch the caller's y, nor fail
  EXPECT_LE(rel_l2(y, want), kConvTol);
  EXPECT_FALSE(plan.implementation().empty());
  EXPECT_EQ(plan.implementation().find("ref"), std::string::npos)
      << "oneDNN fell back to its reference loops: " << plan.implementation();
}

// ---- batch norm -----------------------------------------------------------------------------------

// oneDNN accumulates per-channel sums in float over M = N*HW <= 392 values, ours in double: relative
// differences ~1e-6 in y, mean, invstd; the backward's two reductions and its cancellation
// (dy - mean(dy) - xhat * mean(dy * xhat)) leave ~1e-5 in dx. A missing (M-1) correction, a wrong
// eps or a dropped weight is off by > 1e-3.
constexpr double kBnTol = 1e-4;

struct BnCase {
  int64_t N, C, HW;
  bool affine;
};

TEST(Onednn, BatchNormTrainingForwardAndRunningStatsMatchOwn) {
  dnn::Context ctx;
  for (const BnCase& k : {BnCase{2, 8, 196, true}, BnCase{2, 16, 16, true}, BnCase{3, 4, 1, false}}) {
    SCOPED_TRACE("C=" + std::to_string(k.C) + " HW=" + std::to_string(k.HW) + (k.affine ? "" : " affine=false"));
    cpu::BatchNorm2dArgs a;
    a.N = k.N, a.C = k.C, a.HW = k.HW, a.momentum = 0.1, a.eps = 1e-5;
    const Buf x = random_buf(k.N * k.C * k.HW, 7, -2.0, 3.0), w = random_buf(k.C, 8, 0.5, 1.5),
              b = random_buf(k.C, 9, -0.5, 0.5);
    const float* wp = k.affine ? w.data() : nullptr;
    const float* bp = k.affine ? b.data() : nullptr;
    Buf y0(x.size()), y1(x.size()), m0(k.C), m1(k.C), is0(k.C), is1(k.C);
    Buf rm0(k.C, 0.25f), rv0(k.C, 2.0f), rm1 = rm0, rv1 = rv0;
    cpu::batch_norm2d_forward_train(x.data(), wp, bp, y0.data(), m0.data(), is0.data(), rm0.data(), rv0.data(), a);
    dnn::batch_norm2d_forward_train(ctx, a, x.data(), wp, bp, y1.data(), m1.data(), is1.data(), rm1.data(), rv1.data());
    EXPECT_LE(rel_l2(y1, y0), kBnTol);
    EXPECT_LE(rel_l2(m1, m0), kBnTol);
    EXPECT_LE(rel_l2(is1, is0), kBnTol);
    EXPECT_LE(rel_l2(rm1, rm0), kBnTol);
    EXPECT_LE(rel_l2(rv1, rv0), kBnTol);  // unbiased M / (M - 1), as ours
    Buf ye0(x.size()), ye1(x.size());
    cpu::batch_norm2d_forward_eval(x.data(), wp, bp, rm0.data(), rv0.data(), ye0.data(), is0.data(), a);
    dnn::batch_norm2d_forward_eval(ctx, a, x.data(), wp, bp, rm0.data(), rv0.data(), ye1.data(), is1.data());
    EXPECT_LE(rel_l2(ye1, ye0), kBnTol) << "eval";
    EXPECT_LE(rel_l2(is1, is0), kBnTol) << "eval invstd";
  }
}

TEST(Onednn, BatchNormBackwardMatchesOwnInBothModes) {
  dnn::Context ctx;
  for (bool training : {true, false})
    for (bool affine : {true, false}) {
      SCOPED_TRACE(std::string(training ? "train" : "eval") + (affine ? "" : " affine=false"));
      cpu::BatchNorm2dBackwardArgs a;
      a.N = 2, a.C = 8, a.HW = 49, a.training = training;
      const size_t n = a.N * a.C * a.HW;
      const Buf x = random_buf(n, 10, -2.0, 3.0), dy = random_buf(n, 11), w = random_buf(a.C, 12, 0.5, 1.5);
      // The statistics the backward is given: the batch's (training) or running ones (eval).
      Buf mean(a.C), invstd(a.C), y(n);
      cpu::BatchNorm2dArgs fa;
      fa.N = a.N, fa.C = a.C, fa.HW = a.HW;
      cpu::batch_norm2d_forward_train<float>(x.data(), w.data(), nullptr, y.data(), mean.data(), invstd.data(), nullptr,
                                             nullptr, fa);
      if (!training)
        for (int64_t c = 0; c < a.C; ++c) mean[c] += 0.3f, invstd[c] *= 0.7f;
      const float* wp = affine ? w.data() : nullptr;
      Buf dx0(n), dx1(n), dw0(a.C), dw1(a.C), db0(a.C), db1(a.C);
      cpu::batch_norm2d_backward(x.data(), dy.data(), mean.data(), invstd.data(), wp, dx0.data(),
                                 affine ? dw0.data() : nullptr, affine ? db0.data() : nullptr, a);
      dnn::batch_norm2d_backward(ctx, a, x.data(), dy.data(), mean.data(), invstd.data(), wp, dx1.data(),
                                 affine ? dw1.data() : nullptr, affine ? db1.data() : nullptr);
      EXPECT_LE(rel_l2(dx1, dx0), kBnTol) << "dx";
      if (affine) {
        EXPECT_LE(rel_l2(dw1, dw0), kBnTol) << "dweight";
        EXPECT_LE(rel_l2(db1, db0), kBnTol) << "dbias";
      }
    }
}

// ---- max pool (bench only) and linear ---------------------------------------------------------------

TEST(Onednn, MaxPoolPlanMatchesOwnValuesAndGradient) {
  dnn::Context ctx;
  cpu::MaxPool2dArgs a;  // ResNet's 3x3/2 pad 1 on the stem's 14x14 map
  a.planes = 2 * 8, a.H = 14, a.W = 14, a.kernel = 3, a.stride = 2, a.padding = 1, a.P = 7, a.Q = 7;
  const Buf x = random_buf(a.planes * a.H * a.W, 13), dy = random_buf(a.planes * a.P * a.Q, 14);
  Buf y0(dy.size()), y1(dy.size()), dx0(x.size()), dx1(x.size());
  std::vector<int64_t> idx(dy.size());
  cpu::max_pool2d_forward(x.data(), y0.data(), idx.data(), a);
  cpu::max_pool2d_backward(dy.data(), idx.data(), dx0.data(), a);
  dnn::MaxPool2dPlan plan(ctx, 2, 8, a);
  plan.forward(x.data(), y1.data());
  plan.backward(dy.data(), dx1.data());
  EXPECT_EQ(y1, y0);  // a maximum is one of the inputs: exact (random data has no ties)
  // Overlapping windows add up to 4 gradients into one input, maybe in another order.
  EXPECT_LE(rel_l2(dx1, dx0), 1e-6);
}

TEST(Onednn, LinearEveryDirectionMatchesOwn) {
  dnn::Context ctx;
  for (const auto& [N, IN, OUT] : {std::tuple<int64_t, int64_t, int64_t>{4, 512, 2}, {3, 37, 5}}) {
    SCOPED_TRACE("N=" + std::to_string(N) + " IN=" + std::to_string(IN) + " OUT=" + std::to_string(OUT));
    const Buf x = random_buf(N * IN, 15), w = random_buf(OUT * IN, 16), b = random_buf(OUT, 17),
              dy = random_buf(N * OUT, 18);
    Buf y0(dy.size()), y1(dy.size()), dx0(x.size()), dx1(x.size()), dw0(w.size()), dw1(w.size());
    cpu::linear_forward<float>(N, IN, OUT, x.data(), w.data(), b.data(), y0.data());
    dnn::linear_forward(ctx, N, IN, OUT, x.data(), w.data(), b.data(), y1.data());
    cpu::linear_backward_input<float>(N, IN, OUT, dy.data(), w.data(), dx0.data());
    dnn::linear_backward_input(ctx, N, IN, OUT, dy.data(), w.data(), dx1.data());
    cpu::linear_backward_weight<float>(N, IN, OUT, x.data(), dy.data(), dw0.data());
    dnn::linear_backward_weight(ctx, N, IN, OUT, x.data(), dy.data(), dw1.data());
    // Sums of at most 512 products in another order (kConvTol's reasoning).
    EXPECT_LE(rel_l2(y1, y0), kConvTol);
    EXPECT_LE(rel_l2(dx1, dx0), kConvTol);
    EXPECT_LE(rel_l2(dw1, dw0), kConvTol);
  }
}

}  // namespace
}  // namespace lb
