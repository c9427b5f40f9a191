// test_batch_norm2d.cc: batch_norm2d forward and backward in training and eval mode, against hand
// computations, the double-precision oracle (tests/reference/batch_norm2d_ref.h) and finite
// differences; the running-statistics update (momentum, unbiased variance, version counters);
// in-place safety; and the error messages.
//
// Shapes include ResNet18's: layer3 BN on (4, 64, 14, 14) and layer4 at 28x28 input on
// (3, 512, 1, 1), where each channel has only N = 3 values in a batch.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops/batch_norm2d.h"
#include "engine/ops/elementwise.h"
#include "engine/storage.h"
#include "tests/reference/batch_norm2d_ref.h"
#include "tests/support/check.h"

namespace lb {
namespace {

using test::error_of;

using test::random_tensor;

#define EXPECT_HAS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << (msg)

// Tolerances against the double oracle. float32: normalised values are O(1-10) with a 6e-8 unit
// roundoff; mean and invstd are rounded to float before use, and the backward's
// dy - mean(dy) - xhat * mean(dy * xhat) cancels, worst at M = 3 values per channel where invstd
// can be large (measured worst: 4e-6 absolute on dx of (3, 512, 1, 1)); 2e-5 leaves a 5x margin.
// float64: the same arithmetic in double leaves summation-order noise (measured <= 1e-13).
double atol_for(DType dt) { return dt == DType::Float32 ? 2e-5 : 1e-12; }
double rtol_for(DType dt) { return dt == DType::Float32 ? 2e-5 : 1e-12; }

const std::vector<Shape>& shapes() {
  static const std::vector<Shape> s = {{4, 64, 14, 14}, {3, 512, 1, 1}, {2, 3, 5, 7}, {1, 4, 3, 3}, {5, 2, 1, 1}};
  return s;
}

struct BnInputs {
  Tensor x, weight, bias, running_mean, running_var;
};

// x in [-2, 3) so the batch mean is far from zero; weight away from zero; running_var positive.
BnInputs make_inputs(const Shape& shape, DType dt, uint64_t seed) {
  const Shape c{shape[1]};
  return {random_tensor(shape, seed, dt, -2.0, 3.0), random_tensor(c, seed + 1, dt, 0.5, 1.5),
          random_tensor(c, seed + 2, dt, -0.5, 0.5), random_tensor(c, seed + 3, dt, -0.5, 0.5),
          random_tensor(c, seed + 4, dt, 0.5, 2.0)};
}

Tensor vec64(const std::vector<double>& v, const Shape& shape) { return Tensor::from_vector(v, shape, DType::Float64); }

// ---- forward ---------------------------------------------------------------------------------

TEST(BatchNorm2dForward, HandComputedTraining) {
  // (N=2, C=2, H=1, W=2). Channel 0 holds {1, 3, 1, 3}: mean 2, biased var 1, xhat = -1, 1, -1, 1.
  // Channel 1 holds {0, 4, 4, 0}: mean 2, var 4, xhat = -1, 1, 1, -1. eps = 0 keeps it exact.
  Tensor x = vec64({1, 3, 0, 4, 1, 3, 4, 0}, {2, 2, 1, 2});
  Tensor w = vec64({2, 0.5}, {2}), b = vec64({1, -1}, {2});
  Tensor rm = vec64({0, 0}, {2}), rv = vec64({1, 1}, {2});
  Tensor y = batch_norm2d(x, w, b, rm, rv, /*training=*/true, 0.1, 0.0);
  // Exact: every step is a small power of two times an integer.
  LB_EXPECT_CLOSE(y, vec64({-1, 3, -1.5, -0.5, -1, 3, -0.5, -1.5}, {2, 2, 1, 2}), 0.0, 0.0);
  // running = 0.9 * old + 0.1 * batch, with the unbiased variance var * 4 / 3.
  // Tolerance: 0.9 + 0.1 * 4/3 is not exact in binary; a few ulps.
  LB_EXPECT_CLOSE(rm, vec64({0.2, 0.2}, {2}), 1e-15, 0.0);
  LB_EXPECT_CLOSE(rv, vec64({0.9 + 0.4 / 3.0, 0.9 + 1.6 / 3.0}, {2}), 1e-15, 0.0);
}

TEST(BatchNorm2dForward, HandComputedEval) {
  // running_var 3 with eps 1 gives invstd exactly 1/2: y = (x - 1) / 2 * w + b.
  Tensor x = vec64({1, 3, 5, -1}, {1, 1, 2, 2});
  Tensor y = batch_norm2d(x, vec64({4}, {1}), vec64({0.5}, {1}), vec64({1}, {1}), vec64({3}, {1}), false, 0.1, 1.0);
  LB_EXPECT_CLOSE(y, vec64({0.5, 4.5, 8.5, -3.5}, {1, 1, 2, 2}), 0.0, 0.0);  // exact in binary
}

TEST(BatchNorm2dForward, MatchesReferenceTraining) {
  for (DType dt : {DType::Float32, DType::Float64}) {
    for (const Shape& s : shapes()) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " " + shape_str(s));
      BnInputs in = make_inputs(s, dt, 10);
      auto want = ref::batch_norm2d_forward(in.x, in.weight, in.bias, in.running_mean, in.running_var, true, 0.1, 1e-5);
      Tensor y = batch_norm2d(in.x, in.weight, in.bias, in.running_mean, in.running_var, true, 0.1, 1e-5);
      LB_EXPECT_CLOSE(y, want.y, atol_for(dt), rtol_for(dt));
      LB_EXPECT_CLOSE(in.running_mean, want.running_mean, atol_for(dt), rtol_for(dt));
      LB_EXPECT_CLOSE(in.running_var, want.running_var, atol_for(dt), rtol_for(dt));
    }
  }
}

TEST(BatchNorm2dForward, MatchesReferenceEval) {
  for (DType dt : {DType::Float32, DType::Float64}) {
    for (const Shape& s : shapes()) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " " + shape_str(s));
      BnInputs in = make_inputs(s, dt, 20);
      auto want =
          ref::batch_norm2d_forward(in.x, in.weight, in.bias, in.running_mean, in.running_var, false, 0.1, 1e-5);
      Tensor y = batch_norm2d(in.x, in.weight, in.bias, in.running_mean, in.running_var, false, 0.1, 1e-5);
      LB_EXPECT_CLOSE(y, want.y, atol_for(dt), rtol_for(dt));
    }
  }
}

TEST(BatchNorm2dForward, WithoutAffineOrRunningStats) {
  for (DType dt : {DType::Float32, DType::Float64}) {
    BnInputs in = make_inputs({3, 4, 5, 5}, dt, 30);
    auto want = ref::batch_norm2d_forward(in.x, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5);
    Tensor y = batch_norm2d(in.x, Tensor(), Tensor(), Tensor(), Tensor(), true);
    LB_EXPECT_CLOSE(y, want.y, atol_for(dt), rtol_for(dt));
  }
}

TEST(BatchNorm2dForward, RecordsKindAndSettings) {
  BnInputs in = make_inputs({2, 3, 2, 2}, DType::Float64, 40);
  EXPECT_FALSE(batch_norm2d(in.x, in.weight, in.bias, in.running_mean, in.running_var, true).requires_grad());
  in.weight.requires_grad_();
  Tensor yt = batch_norm2d(in.x, in.weight, in.bias, in.running_mean, in.running_var, true);
  ASSERT_TRUE(yt.grad_fn());
  EXPECT_STREQ(yt.grad_fn()->kind(), "batch_norm2d");
  EXPECT_EQ(yt.grad_fn()->describe(), "train eps=1e-05");
  Tensor ye = batch_norm2d(in.x, in.weight, in.bias, in.running_mean, in.running_var, false, 0.1, 1e-3);
  EXPECT_EQ(ye.grad_fn()->describe(), "eval eps=0.001");
}

// ---- backward --------------------------------------------------------------------------------

struct BnGrads {
  Tensor dx, dweight, dbias;
};

// Gradients of <batch_norm2d(x, w, b), dy> for every input that requires grad.
BnGrads engine_grads(const BnInputs& in, const Tensor& dy, bool training) {
  Tensor y = batch_norm2d(in.x, in.weight, in.bias, in.running_mean, in.running_var, training);
  auto g = autograd::grad({y}, {in.x, in.weight, in.bias}, {dy});
  return {g[0], g[1], g[2]};
}

TEST(BatchNorm2dBackward, HandComputedTraining) {
  // One channel {1, 3, 1, 3}: xhat = -1, 1, -1, 1 (eps 0), weight 1. With dy = (1, 0, 0, 0):
  // sum(dy) = 1, sum(dy * xhat) = -1, so dx = (4 dy - 1 + xhat) / 4 = (0.5, 0, -0.5, 0).
  Tensor x = vec64({1, 3, 1, 3}, {4, 1, 1, 1}).requires_grad_();
  Tensor w = vec64({1}, {1}).requires_grad_(), b = vec64({0}, {1}).requires_grad_();
  Tensor y = batch_norm2d(x, w, b, Tensor(), Tensor(), true, 0.1, 0.0);
  auto g = autograd::grad({y}, {x, w, b}, {vec64({1, 0, 0, 0}, {4, 1, 1, 1})});
  LB_EXPECT_CLOSE(g[0], vec64({0.5, 0, -0.5, 0}, {4, 1, 1, 1}), 1e-15, 0.0);  // exact up to rounding
  LB_EXPECT_CLOSE(g[1], vec64({-1}, {1}), 1e-15, 0.0);
  LB_EXPECT_CLOSE(g[2], vec64({1}, {1}), 0.0, 0.0);
}

TEST(BatchNorm2dBackward, MatchesReference) {
  for (bool training : {true, false}) {
    for (DType dt : {DType::Float32, DType::Float64}) {
      for (const Shape& s : shapes()) {
        SCOPED_TRACE(std::string(training ? "train " : "eval ") + dtype_name(dt) + " " + shape_str(s));
        BnInputs in = make_inputs(s, dt, 50);
        in.x.requires_grad_();
        in.weight.requires_grad_();
        in.bias.requires_grad_();
        Tensor dy = random_tensor(s, 55, dt);
        auto want = ref::batch_norm2d_backward(in.x, in.weight, dy, in.running_mean, in.running_var, training, 1e-5);
        BnGrads got = engine_grads(in, dy, training);
        LB_EXPECT_CLOSE(got.dx, want.dx, atol_for(dt), rtol_for(dt));
        // dweight and dbias sum up to 784 terms into values up to ~50: their rounding grows with
        // the magnitude (measured worst 4e-6 in float32, 1e-13 in float64).
        LB_EXPECT_CLOSE(got.dweight, want.dweight, 10 * atol_for(dt), rtol_for(dt));
        LB_EXPECT_CLOSE(got.dbias, want.dbias, 10 * atol_for(dt), rtol_for(dt));
      }
    }
  }
}

TEST(BatchNorm2dBackward, OnlyRequestedGradients) {
  // A frozen affine (transfer learning): x wants a gradient, weight and bias do not.
  BnInputs in = make_inputs({2, 3, 4, 4}, DType::Float64, 60);
  in.x.requires_grad_();
  Tensor dy = random_tensor(in.x.shape(), 61);
  Tensor y = batch_norm2d(in.x, in.weight, in.bias, in.running_mean, in.running_var, true);
  EXPECT_TRUE(y.grad_fn()->needs_input_grad(0));
  EXPECT_FALSE(y.grad_fn()->needs_input_grad(1));
  y.backward(dy);
  auto want = ref::batch_norm2d_backward(in.x, in.weight, dy, Tensor(), Tensor(), true, 1e-5);
  LB_EXPECT_CLOSE(in.x.grad(), want.dx, 1e-11, 1e-11);  // float64 summation order only
  EXPECT_FALSE(in.weight.grad().defined());
  // The other way round: only the affine parameters train (x is data).
  BnInputs in2 = make_inputs({2, 3, 4, 4}, DType::Float64, 62);
  in2.weight.requires_grad_();
  in2.bias.requires_grad_();
  Tensor y2 = batch_norm2d(in2.x, in2.weight, in2.bias, in2.running_mean, in2.running_var, false);
  y2.backward(dy);
  auto want2 = ref::batch_norm2d_backward(in2.x, in2.weight, dy, in2.running_mean, in2.running_var, false, 1e-5);
  LB_EXPECT_CLOSE(in2.weight.grad(), want2.dweight, 1e-11, 1e-11);  // float64 summation order only
  LB_EXPECT_CLOSE(in2.bias.grad(), want2.dbias, 1e-11, 1e-11);
}

TEST(BatchNorm2dBackward, EvalWithFrozenWeightDoesNotSaveTheInput) {
  // Eval with a frozen weight needs only invstd, so overwriting the input afterwards is legal;
  // training needs xhat, so the same write is an in-place error naming the op.
  for (bool training : {false, true}) {
    BnInputs in = make_inputs({2, 2, 3, 3}, DType::Float64, 70);
    Tensor a = in.x.clone().requires_grad_();
    Tensor h = scale(a, 1.0);
    Tensor y = batch_norm2d(h, in.weight, in.bias, in.running_mean, in.running_var, training);
    relu_(h);
    const std::string msg = error_of([&] { y.backward(random_tensor(y.shape(), 71)); });
    if (training) {
      EXPECT_HAS(msg, "batch_norm2d");
      EXPECT_HAS(msg, "input");
    } else {
      EXPECT_EQ(msg, "");
      auto want = ref::batch_norm2d_backward(in.x, in.weight, random_tensor(y.shape(), 71), in.running_mean,
                                             in.running_var, false, 1e-5);
      LB_EXPECT_CLOSE(a.grad(), want.dx, 1e-12, 1e-12);  // float64, one product per element
    }
  }
}

TEST(BatchNorm2dBackward, WeightWrittenInPlaceIsDetected) {
  // An optimizer step between forward and backward would make dx use the new weight.
  BnInputs in = make_inputs({2, 2, 3, 3}, DType::Float64, 80);
  in.x.requires_grad_();
  in.weight.requires_grad_();
  Tensor y = batch_norm2d(in.x, in.weight, in.bias, in.running_mean, in.running_var, true);
  {
    NoGradGuard g;
    in.weight.fill_(2.0);
  }
  const std::string msg = error_of([&] { y.backward(random_tensor(y.shape(), 81)); });
  EXPECT_HAS(msg, "batch_norm2d");
  EXPECT_HAS(msg, "weight");
}

// ---- finite differences (float64) ---------------------------------------------------------------

// Default gradcheck tolerances (atol 1e-6, rtol 1e-5): central differences with step 1e-6 on
// smooth functions of O(1) values are accurate to ~1e-9, far inside them.
TEST(BatchNorm2dFiniteDiff, Training) {
  for (const Shape& s : {Shape{2, 3, 3, 4}, Shape{3, 4, 1, 1}}) {
    SCOPED_TRACE(shape_str(s));
    BnInputs in = make_inputs(s, DType::Float64, 90);
    in.x.requires_grad_();
    in.weight.requires_grad_();
    in.bias.requires_grad_();
    EXPECT_TRUE(test::gradcheck(
        [](const std::vector<Tensor>& v) { return batch_norm2d(v[0], v[1], v[2], Tensor(), Tensor(), true); },
        {in.x, in.weight, in.bias}));
  }
}

TEST(BatchNorm2dFiniteDiff, TrainingWithoutAffine) {
  BnInputs in = make_inputs({2, 2, 3, 3}, DType::Float64, 100);
  in.x.requires_grad_();
  EXPECT_TRUE(test::gradcheck(
      [](const std::vector<Tensor>& v) { return batch_norm2d(v[0], Tensor(), Tensor(), Tensor(), Tensor(), true); },
      {in.x}));
}

TEST(BatchNorm2dFiniteDiff, Eval) {
  BnInputs in = make_inputs({2, 3, 2, 3}, DType::Float64, 110);
  in.x.requires_grad_();
  in.weight.requires_grad_();
  in.bias.requires_grad_();
  const Tensor rm = in.running_mean, rv = in.running_var;
  EXPECT_TRUE(
      test::gradcheck([&](const std::vector<Tensor>& v) { return batch_norm2d(v[0], v[1], v[2], rm, rv, false); },
                      {in.x, in.weight, in.bias}));
}

// ---- running statistics ------------------------------------------------------------------------------

TEST(BatchNorm2dRunningStats, ThreeTrainingSteps) {
  const Shape s{4, 3, 2, 3};
  const int64_t N = s[0], C = s[1], HW = s[2] * s[3];
  Tensor rm = Tensor::zeros({C}, DType::Float64), rv = Tensor::ones({C}, DType::Float64);
  std::vector<double> want_m(C, 0.0), want_v(C, 1.0);
  for (int step = 0; step < 3; ++step) {
    Tensor x = random_tensor(s, 120 + step, DType::Float64, -1.0 + step, 2.0 + 2 * step);
    const uint64_t v_m = rm.version(), v_v = rv.version();
    batch_norm2d(x, Tensor(), Tensor(), rm, rv, true, 0.1, 1e-5);
    EXPECT_EQ(rm.version(), v_m + 1);  // the in-place update moved the version counters
    EXPECT_EQ(rv.version(), v_v + 1);
    // By hand: the batch mean and the unbiased variance (divide by M - 1) per channel.
    const std::vector<double> xv = x.to_vector();
    for (int64_t c = 0; c < C; ++c) {
      double sum = 0.0, sq = 0.0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < HW; ++i) sum += xv[(n * C + c) * HW + i];
      const double mean = sum / (N * HW);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < HW; ++i) sq += std::pow(xv[(n * C + c) * HW + i] - mean, 2);
      want_m[c] = 0.9 * want_m[c] + 0.1 * mean;
      want_v[c] = 0.9 * want_v[c] + 0.1 * sq / (N * HW - 1);
    }
  }
  // float64 summation order only.
  LB_EXPECT_CLOSE(rm, vec64(want_m, {C}), 1e-12, 1e-12);
  LB_EXPECT_CLOSE(rv, vec64(want_v, {C}), 1e-12, 1e-12);
  // Eval now normalises with these statistics and leaves them alone.
  Tensor x = random_tensor(s, 130);
  const uint64_t v_m = rm.version();
  Tensor y = batch_norm2d(x, Tensor(), Tensor(), rm, rv, false, 0.1, 1e-5);
  EXPECT_EQ(rm.version(), v_m);
  LB_EXPECT_CLOSE(y, ref::batch_norm2d_forward(x, Tensor(), Tensor(), rm, rv, false, 0.1, 1e-5).y, 1e-12, 1e-12);
  LB_EXPECT_CLOSE(rm, vec64(want_m, {C}), 0.0, 0.0);
}

TEST(BatchNorm2dRunningStats, Float32MatchesReferenceOverThreeSteps) {
  Tensor rm = Tensor::zeros({8}), rv = Tensor::ones({8});
  Tensor want_m = rm.to(DType::Float64), want_v = rv.to(DType::Float64);
  for (int step = 0; step < 3; ++step) {
    Tensor x = random_tensor({4, 8, 7, 7}, 140 + step, DType::Float32, -2.0, 3.0);
    auto want = ref::batch_norm2d_forward(x, Tensor(), Tensor(), want_m, want_v, true, 0.1, 1e-5);
    want_m = want.running_mean;
    want_v = want.running_var;
    batch_norm2d(x, Tensor(), Tensor(), rm, rv, true, 0.1, 1e-5);
  }
  // float32 storage of O(1) statistics, rounded once per step.
  LB_EXPECT_CLOSE(rm, want_m, 1e-6, 1e-6);
  LB_EXPECT_CLOSE(rv, want_v, 1e-6, 1e-6);
}

TEST(BatchNorm2dRunningStats, UpdatedUnderNoGrad) {
  // Like PyTorch: the update belongs to training mode, not to grad mode.
  Tensor rm = Tensor::zeros({2}, DType::Float64), rv = Tensor::ones({2}, DType::Float64);
  NoGradGuard g;
  batch_norm2d(vec64({1, 3, 5, 7}, {2, 2, 1, 1}), Tensor(), Tensor(), rm, rv, true, 0.5, 1e-5);
  // Channel 0 holds {1, 5}, channel 1 {3, 7}: means 3 and 5, unbiased variance 8. Exact in binary.
  LB_EXPECT_CLOSE(rm, vec64({1.5, 2.5}, {2}), 0.0, 0.0);
  LB_EXPECT_CLOSE(rv, vec64({4.5, 4.5}, {2}), 0.0, 0.0);
}

TEST(BatchNorm2dRunningStats, UpdateBetweenEvalForwardAndBackwardKeepsTheGradient) {
  // The eval node copies the statistics it used, so a later training step that rewrites them
  // in place cannot change (or block) the gradient of the earlier forward.
  BnInputs in = make_inputs({2, 3, 3, 3}, DType::Float64, 150);
  in.x.requires_grad_();
  in.weight.requires_grad_();
  const Tensor rm0 = in.running_mean.clone(), rv0 = in.running_var.clone();
  Tensor y = batch_norm2d(in.x, in.weight, in.bias, in.running_mean, in.running_var, false);
  batch_norm2d(random_tensor({2, 3, 3, 3}, 151), in.weight, in.bias, in.running_mean, in.running_var, true);
  Tensor dy = random_tensor(y.shape(), 152);
  y.backward(dy);
  auto want = ref::batch_norm2d_backward(in.x, in.weight, dy, rm0, rv0, false, 1e-5);
  LB_EXPECT_CLOSE(in.x.grad(), want.dx, 1e-12, 1e-12);  // float64 summation order only
  LB_EXPECT_CLOSE(in.weight.grad(), want.dweight, 1e-12, 1e-12);
}

// ---- errors -------------------------------------------------------------------------------------------

TEST(BatchNorm2dErrors, WrongRank) {
  const std::string msg = error_of([] {
    batch_norm2d(Tensor::zeros({2, 3, 4}), Tensor(), Tensor(), Tensor(), Tensor(), true);
  });
  EXPECT_HAS(msg, "batch_norm2d");
  EXPECT_HAS(msg, "4-D");
  EXPECT_HAS(msg, "[2, 3, 4]");
}

TEST(BatchNorm2dErrors, ChannelCountMismatch) {
  Tensor x = Tensor::zeros({2, 4, 3, 3}), c3 = Tensor::ones({3}), c4 = Tensor::ones({4});
  std::string msg = error_of([&] { batch_norm2d(x, c3, c4, c4.clone(), c4.clone(), true); });
  EXPECT_HAS(msg, "batch_norm2d: weight has shape [3]");
  EXPECT_HAS(msg, "4 channels");
  msg = error_of([&] { batch_norm2d(x, c4, c3, c4.clone(), c4.clone(), true); });
  EXPECT_HAS(msg, "bias has shape [3]");
  msg = error_of([&] { batch_norm2d(x, c4, c4, c3.clone(), c4.clone(), true); });
  EXPECT_HAS(msg, "running_mean has shape [3]");
  msg = error_of([&] { batch_norm2d(x, c4, c4, c4.clone(), c3.clone(), false); });
  EXPECT_HAS(msg, "running_var has shape [3]");
}

TEST(BatchNorm2dErrors, DtypeMismatchAndIntegerInput) {
  Tensor x = Tensor::zeros({2, 2, 2, 2}, DType::Float64);
  std::string msg = error_of([&] { batch_norm2d(x, Tensor::ones({2}), Tensor(), Tensor(), Tensor(), true); });
  EXPECT_HAS(msg, "batch_norm2d: weight is float32 but the input is float64");
  Tensor xi = Tensor::zeros({2, 2, 2, 2}, DType::Int64);
  msg = error_of([&] { batch_norm2d(xi, Tensor(), Tensor(), Tensor(), Tensor(), true); });
  EXPECT_HAS(msg, "batch_norm2d: expected a float32 or float64 input");
}

TEST(BatchNorm2dErrors, OneValuePerChannelWhenTraining) {
  Tensor x = Tensor::ones({1, 3, 1, 1});
  EXPECT_EQ(error_of([&] { batch_norm2d(x, Tensor(), Tensor(), Tensor(), Tensor(), true); }),
            "batch_norm2d: expected more than 1 value per channel when training, got input [1, 3, 1, 1]");
  // Eval uses the running statistics, so a single value is fine there.
  EXPECT_EQ(error_of([&] { batch_norm2d(x, Tensor(), Tensor(), Tensor::zeros({3}), Tensor::ones({3}), false); }), "");
}

TEST(BatchNorm2dErrors, RunningStatsMisuse) {
  Tensor x = Tensor::zeros({2, 2, 2, 2});
  std::string msg = error_of([&] { batch_norm2d(x, Tensor(), Tensor(), Tensor(), Tensor(), false); });
  EXPECT_HAS(msg, "eval mode normalises with running_mean and running_var");
  msg = error_of([&] { batch_norm2d(x, Tensor(), Tensor(), Tensor::zeros({2}), Tensor(), true); });
  EXPECT_HAS(msg, "must be given together");
  Tensor rm = Tensor::zeros({2}).requires_grad_();
  msg = error_of([&] { batch_norm2d(x, Tensor(), Tensor(), rm, Tensor::ones({2}), true); });
  EXPECT_HAS(msg, "must not require grad");
}

// Mixed devices and float64 on CUDA are refused with the fix in the message.
TEST(BatchNorm2dErrors, MixedDevicesAndCudaFloat64NameTheFix) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: a CUDA tensor cannot be made here";
  Tensor x = Tensor::zeros({2, 2, 2, 2}, DType::Float32, Device::cuda());
  EXPECT_HAS(error_of([&] { batch_norm2d(x, Tensor::ones({2}), Tensor(), Tensor(), Tensor(), true); }),
             "batch_norm2d: all tensors must be on one device");
  Tensor x64 = Tensor::zeros({2, 2, 2, 2}, DType::Float64, Device::cuda());
  EXPECT_HAS(error_of([&] { batch_norm2d(x64, Tensor(), Tensor(), Tensor(), Tensor(), true); }),
             "CUDA kernels take float32");
}

}  // namespace
}  // namespace lb
