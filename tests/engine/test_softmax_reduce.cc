// test_softmax_reduce.cc: softmax, log_softmax, cross_entropy, sum, mean, reshape and flatten:
// forward and backward against the double-precision oracles, finite differences, errors.
#include <cmath>

#include <gtest/gtest.h>

#include "engine/autograd.h"
#include "engine/ops/ops.h"
#include "tests/reference/basic_ref.h"
#include "tests/support/check.h"

namespace lb {
namespace {

using test::gradcheck;
using test::random_tensor;

Tensor from(const std::vector<double>& v, const Shape& s, DType dt) { return Tensor::from_vector(v, s, dt); }

// float32 softmax: exp/log in double then one rounding to float; 1e-6 relative suffices.
constexpr double kTol32 = 1e-6;

TEST(SoftmaxForward, MatchesReferenceAndIsStableForLargeLogits) {
  for (DType dt : {DType::Float32, DType::Float64}) {
    Tensor x = random_tensor({4, 5}, 1, dt, -3, 3);
    LB_EXPECT_CLOSE(softmax(x, 1), from(ref::softmax_rows(x.to_vector(), 4, 5), x.shape(), dt), 1e-7, kTol32);
    LB_EXPECT_CLOSE(log_softmax(x, -1), from(ref::log_softmax_rows(x.to_vector(), 4, 5), x.shape(), dt), 1e-6, kTol32);
  }
  Tensor big = from({1000.0, 1001.0}, {1, 2}, DType::Float32);
  Tensor p = softmax(big, 1);
  EXPECT_NEAR(p.at(1), 1.0 / (1.0 + std::exp(-1.0)), 1e-6);  // no overflow to inf/nan
}

TEST(SoftmaxForward, NonLastDimension) {
  // Softmax over dim 0 of (3, 2) equals softmax over rows of the transpose.
  Tensor x = random_tensor({3, 2}, 2);
  const auto v = x.to_vector();
  std::vector<double> t = {v[0], v[2], v[4], v[1], v[3], v[5]};
  const auto r = ref::softmax_rows(t, 2, 3);
  Tensor y = softmax(x, 0);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 2; ++j) EXPECT_NEAR(y.at(i * 2 + j), r[j * 3 + i], 1e-12);
}

TEST(SoftmaxBackward, MatchesReferenceJacobian) {
  Tensor x = random_tensor({3, 4}, 3).requires_grad_();
  Tensor dy = random_tensor({3, 4}, 4);
  const auto g = autograd::grad({softmax(x, 1)}, {x}, {dy})[0];
  LB_EXPECT_CLOSE(g, from(ref::softmax_rows_backward(x.to_vector(), dy.to_vector(), 3, 4), x.shape(), DType::Float64),
                  1e-12, 1e-10);
}

TEST(LogSoftmaxBackward, MatchesReferenceJacobian) {
  Tensor x = random_tensor({3, 4}, 3).requires_grad_();
  Tensor dy = random_tensor({3, 4}, 4);
  const auto gl = autograd::grad({log_softmax(x, 1)}, {x}, {dy})[0];
  LB_EXPECT_CLOSE(gl,
                  from(ref::log_softmax_rows_backward(x.to_vector(), dy.to_vector(), 3, 4), x.shape(), DType::Float64),
                  1e-12, 1e-10);
}

TEST(SoftmaxFiniteDiff, Float64EveryDim) {
  Tensor x = random_tensor({2, 3, 4}, 5).requires_grad_();
  for (int64_t d : {0, 1, 2})
    EXPECT_TRUE(gradcheck([d](const std::vector<Tensor>& in) { return softmax(in[0], d); }, {x}));
}

TEST(LogSoftmaxFiniteDiff, Float64EveryDim) {
  Tensor x = random_tensor({2, 3, 4}, 5).requires_grad_();
  for (int64_t d : {0, 1, 2})
    EXPECT_TRUE(gradcheck([d](const std::vector<Tensor>& in) { return log_softmax(in[0], d); }, {x}));
}

TEST(LogSoftmaxForward, MatchesLogOfSoftmax) {
  Tensor x = random_tensor({3, 5}, 26);
  const auto p = softmax(x, 1).to_vector(), lp = log_softmax(x, 1).to_vector();
  for (size_t i = 0; i < p.size(); ++i) EXPECT_NEAR(lp[i], std::log(p[i]), 1e-12);
}

TEST(CrossEntropyForward, HandComputed) {
  // Two classes with equal logits: loss = log 2 for every row.
  Tensor logits = Tensor::zeros({3, 2});
  Tensor t = from({0, 1, 1}, {3}, DType::Int64);
  EXPECT_NEAR(cross_entropy(logits, t).item(), std::log(2.0), 1e-7);
}

TEST(CrossEntropyBackward, MatchesReferenceWithAndWithoutWeights) {
  Tensor logits = random_tensor({6, 3}, 6, DType::Float64, -2, 2).requires_grad_();
  std::vector<int64_t> tv = {0, 2, 1, 1, 0, 2};
  Tensor t = from({0, 2, 1, 1, 0, 2}, {6}, DType::Int64);
  const std::vector<double> w = {0.2, 1.0, 3.0};
  for (bool weighted : {false, true}) {
    Tensor wt = weighted ? from(w, {3}, DType::Float64) : Tensor();
    const auto wv = weighted ? w : std::vector<double>{};
    Tensor loss = cross_entropy(logits, t, wt);
    EXPECT_NEAR(loss.item(), ref::cross_entropy(logits.to_vector(), tv, wv, 6, 3), 1e-12);
    Tensor g = autograd::grad({loss}, {logits})[0];
    LB_EXPECT_CLOSE(g, from(ref::cross_entropy_backward(logits.to_vector(), tv, wv, 6, 3), {6, 3}, DType::Float64),
                    1e-12, 1e-10);
  }
}

TEST(CrossEntropyFiniteDiff, Float64Weighted) {
  Tensor logits = random_tensor({5, 4}, 7).requires_grad_();
  Tensor t = from({3, 0, 1, 2, 3}, {5}, DType::Int64);
  Tensor w = from({1.0, 0.5, 2.0, 0.7}, {4}, DType::Float64);
  EXPECT_TRUE(gradcheck([&](const std::vector<Tensor>& in) { return cross_entropy(in[0], t, w); }, {logits}));
}

TEST(CrossEntropyErrors, BadTargets) {
  Tensor logits = Tensor::zeros({2, 2});
  EXPECT_THROW(cross_entropy(logits, from({0, 2}, {2}, DType::Int64)), Error);    // out of range
  EXPECT_THROW(cross_entropy(logits, from({0, 1}, {2}, DType::Float32)), Error);  // wrong dtype
  EXPECT_THROW(cross_entropy(logits, from({0}, {1}, DType::Int64)), Error);       // wrong count
  try {
    cross_entropy(logits, from({0, -1}, {2}, DType::Int64));
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("row 1"), std::string::npos) << e.what();
  }
}

TEST(ReduceForward, SumMeanFullAndPerDim) {
  for (DType dt : {DType::Float32, DType::Float64}) {
    Tensor x = random_tensor({2, 3, 4}, 8, dt);
    const auto v = x.to_vector();
    double total = 0.0;
    for (double e : v) total += e;
    EXPECT_NEAR(sum(x).item(), total, 1e-6);
    EXPECT_NEAR(mean(x).item(), total / 24.0, 1e-7);
    EXPECT_EQ(sum(x).dim(), 0);
    LB_EXPECT_CLOSE(sum(x, 1), from(ref::sum_axis(v, 2, 3, 4), {2, 4}, dt), 1e-6, kTol32);
    Tensor m = mean(x, -1, /*keepdim=*/true);
    EXPECT_EQ(m.shape(), (Shape{2, 3, 1}));
    auto s = ref::sum_axis(v, 6, 4, 1);
    for (double& e : s) e /= 4.0;
    LB_EXPECT_CLOSE(m, from(s, {2, 3, 1}, dt), 1e-7, kTol32);
  }
}

TEST(ReduceBackward, BroadcastsTheGradient) {
  Tensor x = random_tensor({2, 3}, 9).requires_grad_();
  Tensor g = autograd::grad({mean(x, 0)}, {x}, {from({1, 2, 3}, {3}, DType::Float64)})[0];
  EXPECT_EQ(g.to_vector(), (std::vector<double>{0.5, 1, 1.5, 0.5, 1, 1.5}));
}

TEST(ReduceFiniteDiff, Float64) {
  Tensor x = random_tensor({2, 3, 2}, 10).requires_grad_();
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return sum(in[0]); }, {x}));
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return mean(in[0], 1); }, {x}));
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return sum(in[0], 2, true); }, {x}));
}

TEST(ReduceErrors, BadDim) { EXPECT_THROW(sum(Tensor::zeros({2, 2}), 2), Error); }

TEST(ShapeForward, ReshapeAndFlattenAreViews) {
  Tensor x = random_tensor({2, 3, 4, 4}, 11, DType::Float32);
  Tensor f = flatten(x);
  EXPECT_EQ(f.shape(), (Shape{2, 48}));
  EXPECT_TRUE(f.same_storage(x));
  EXPECT_EQ(reshape(x, {-1, 8}).shape(), (Shape{12, 8}));
  LB_EXPECT_CLOSE(f.view({2, 3, 4, 4}), x, 0, 0);
}

TEST(ShapeBackward, GradientHasInputShape) {
  Tensor x = random_tensor({2, 3, 2}, 12).requires_grad_();
  Tensor g = autograd::grad({flatten(x)}, {x}, {random_tensor({2, 6}, 13)})[0];
  EXPECT_EQ(g.shape(), x.shape());
  LB_EXPECT_CLOSE(g.view({2, 6}), random_tensor({2, 6}, 13), 0, 0);
}

TEST(ShapeFiniteDiff, Float64) {
  Tensor x = random_tensor({2, 2, 3}, 14).requires_grad_();
  EXPECT_TRUE(gradcheck(
      [](const std::vector<Tensor>& in) {
        return mul(reshape(in[0], {3, 4}), reshape(in[0], {3, 4}));
      },
      {x}));
}

TEST(ShapeErrors, BadShapesAndAliasedInPlace) {
  Tensor x = Tensor::zeros({2, 3});
  EXPECT_THROW(reshape(x, {4, 2}), Error);
  EXPECT_THROW(reshape(x, {-1, -1}), Error);
  EXPECT_THROW(reshape(x, {-1, 4}), Error);
  // A differentiable view must refuse in-place writes: they would bypass the other alias's history.
  Tensor a = random_tensor({2, 3}, 15).requires_grad_();
  Tensor h = scale(a, 1.0);
  Tensor v = reshape(h, {6});
  EXPECT_THROW(relu_(h), Error);
  EXPECT_THROW(relu_(v), Error);
}

// ---- sigmoid and the multi-label loss (composed from linear, softmax and cross_entropy) ----------

// The naive double-precision sigmoid BCE: -mean(y log s + (1 - y) log(1 - s)), s = 1 / (1 + e^-z).
double bce_reference(const std::vector<double>& z, const std::vector<int64_t>& y) {
  double sum = 0;
  for (size_t i = 0; i < z.size(); ++i) {
    const double s = 1.0 / (1.0 + std::exp(-z[i]));
    sum -= y[i] ? std::log(s) : std::log1p(-s);
  }
  return sum / static_cast<double>(z.size());
}

TEST(SigmoidForward, MatchesReferenceAnyShapeAndSaturatesWithoutNan) {
  for (DType dt : {DType::Float32, DType::Float64}) {
    Tensor x = random_tensor({2, 3, 4}, 40, dt, -6, 6);
    Tensor y = sigmoid(x);
    ASSERT_EQ(y.shape(), x.shape());
    const auto v = x.to_vector();
    for (size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(y.at(i), 1.0 / (1.0 + std::exp(-v[i])), 1e-7) << i;
  }
  Tensor big = from({-1000.0, 1000.0}, {2}, DType::Float32);
  EXPECT_EQ(sigmoid(big).at(0), 0.0);
  EXPECT_EQ(sigmoid(big).at(1), 1.0);
}

TEST(SigmoidBackward, IsSTimesOneMinusS) {
  Tensor x = random_tensor({3, 4}, 41).requires_grad_();
  Tensor dy = random_tensor({3, 4}, 42);
  const Tensor g = autograd::grad({sigmoid(x)}, {x}, {dy})[0];
  const auto v = x.to_vector(), d = dy.to_vector();
  for (size_t i = 0; i < v.size(); ++i) {
    const double s = 1.0 / (1.0 + std::exp(-v[i]));
    EXPECT_NEAR(g.at(i), d[i] * s * (1 - s), 1e-12) << i;
  }
}

TEST(SigmoidFiniteDiff, Float64) {
  Tensor x = random_tensor({2, 5}, 43, DType::Float64, -3, 3).requires_grad_();
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return sigmoid(in[0]); }, {x}));
}

TEST(BceWithLogitsForward, MatchesReferenceAndHandComputed) {
  const std::vector<int64_t> yv = {1, 0, 0, 1, 1, 0};
  Tensor y = from({1, 0, 0, 1, 1, 0}, {2, 3}, DType::Int64);
  for (DType dt : {DType::Float32, DType::Float64}) {
    Tensor z = random_tensor({2, 3}, 44, dt, -8, 8);
    EXPECT_NEAR(binary_cross_entropy_with_logits(z, y).item(), bce_reference(z.to_vector(), yv), 1e-6);
  }
  // z = 0: log 2 for every entry; large correct logits: about 0 without overflow.
  EXPECT_NEAR(binary_cross_entropy_with_logits(Tensor::zeros({2, 3}), y).item(), std::log(2.0), 1e-7);
  Tensor sure = from({60, -60, -60, 60, 60, -60}, {2, 3}, DType::Float32);
  EXPECT_NEAR(binary_cross_entropy_with_logits(sure, y).item(), 0.0, 1e-12);
}

TEST(BceWithLogitsBackward, IsSigmoidMinusTargetOverCount) {
  Tensor z = random_tensor({3, 4}, 45, DType::Float64, -4, 4).requires_grad_();
  Tensor y = from({1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 0}, {3, 4}, DType::Int64);
  const Tensor g = autograd::grad({binary_cross_entropy_with_logits(z, y)}, {z})[0];
  const auto v = z.to_vector(), t = y.to_vector();
  for (size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(g.at(i), (1.0 / (1.0 + std::exp(-v[i])) - t[i]) / 12.0, 1e-12) << i;
}

TEST(BceWithLogitsFiniteDiff, Float64) {
  Tensor z = random_tensor({3, 2}, 46, DType::Float64, -3, 3).requires_grad_();
  Tensor y = from({0, 1, 1, 0, 1, 1}, {3, 2}, DType::Int64);
  EXPECT_TRUE(
      gradcheck([&](const std::vector<Tensor>& in) { return binary_cross_entropy_with_logits(in[0], y); }, {z}));
}

// Label smoothing against a double reference: -sum_k q_ik log p_ik averaged over the batch with
// q = (1 - e) one-hot + e / C; its gradient (p - q) / N by finite differences; e outside [0, 1)
// is an error.
TEST(CrossEntropySmoothed, MatchesReferenceAndFiniteDifferences) {
  const double e = 0.2;
  Tensor z = random_tensor({4, 3}, 47, DType::Float64, -3, 3).requires_grad_();
  Tensor y = from({2, 0, 1, 2}, {4}, DType::Int64);
  const auto v = z.to_vector();
  double want = 0;
  for (int64_t i = 0; i < 4; ++i) {
    double m = -1e300, s = 0;
    for (int64_t k = 0; k < 3; ++k) m = std::max(m, v[i * 3 + k]);
    for (int64_t k = 0; k < 3; ++k) s += std::exp(v[i * 3 + k] - m);
    for (int64_t k = 0; k < 3; ++k) {
      const double q = (k == y.to_vector()[i] ? 1 - e : 0) + e / 3;
      want -= q * (v[i * 3 + k] - m - std::log(s)) / 4;
    }
  }
  EXPECT_NEAR(cross_entropy_smoothed(z, y, e).item(), want, 1e-12);
  EXPECT_TRUE(gradcheck([&](const std::vector<Tensor>& in) { return cross_entropy_smoothed(in[0], y, e); }, {z}));
  test::expect_error([&] { cross_entropy_smoothed(z, y, 1.0); }, {"label smoothing", "[0, 1)"});
}

TEST(BceWithLogitsErrors, BadTargets) {
  Tensor z = Tensor::zeros({2, 3});
  test::expect_error(
      [&] {
        binary_cross_entropy_with_logits(z, from({0, 1, 2, 0, 1, 0}, {2, 3}, DType::Int64));
      },
      {"target 2", "row 0", "label 2", "0/1"});
  test::expect_error(
      [&] {
        binary_cross_entropy_with_logits(z, from({0, 1}, {2}, DType::Int64));
      },
      {"int64 0/1 flags", "[2, 3]"});
  test::expect_error([&] { binary_cross_entropy_with_logits(z, Tensor::zeros({2, 3})); }, {"int64"});
  test::expect_error([&] { binary_cross_entropy_with_logits(Tensor::zeros({6}), from({0}, {1}, DType::Int64)); },
                     {"(N, L)"});
}

}  // namespace
}  // namespace lb
