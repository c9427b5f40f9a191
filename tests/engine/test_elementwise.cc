// test_elementwise.cc: relu, relu_, add, add_, mul, scale: forward and backward against the
// double-precision oracles, finite differences in float64, and errors.
#include <gtest/gtest.h>

#include "engine/autograd.h"
#include "engine/ops/elementwise.h"
#include "tests/reference/basic_ref.h"
#include "tests/support/check.h"

namespace lb {
namespace {

using test::gradcheck;
using test::random_tensor;

Tensor from(const std::vector<double>& v, const Shape& s, DType dt) { return Tensor::from_vector(v, s, dt); }

class ElementwiseDtype : public ::testing::TestWithParam<DType> {};

// float32 elementwise results are exact up to one rounding; 1e-6 relative covers it.
constexpr double kTol32 = 1e-6;

TEST_P(ElementwiseDtype, ReluForwardBackwardMatchReference) {
  const DType dt = GetParam();
  Tensor x = random_tensor({3, 4, 5}, 1, dt).requires_grad_();
  Tensor dy = random_tensor({3, 4, 5}, 2, dt);
  Tensor y = relu(x);
  LB_EXPECT_CLOSE(y, from(ref::relu(x.to_vector()), x.shape(), dt), 0, 0);
  Tensor dx = autograd::grad({y}, {x}, {dy})[0];
  LB_EXPECT_CLOSE(dx, from(ref::relu_backward(x.to_vector(), dy.to_vector()), x.shape(), dt), 0, 0);
}

TEST_P(ElementwiseDtype, AddMulScaleForwardBackwardMatchReference) {
  const DType dt = GetParam();
  Tensor a = random_tensor({2, 7}, 3, dt).requires_grad_();
  Tensor b = random_tensor({2, 7}, 4, dt).requires_grad_();
  Tensor dy = random_tensor({2, 7}, 5, dt);
  const auto av = a.to_vector(), bv = b.to_vector(), dv = dy.to_vector();
  std::vector<double> s(av.size()), p(av.size()), da(av.size()), db(av.size());
  for (size_t i = 0; i < av.size(); ++i) {
    s[i] = av[i] - 2.0 * bv[i];
    p[i] = av[i] * bv[i] * 3.0;
    da[i] = dv[i] + 3.0 * dv[i] * bv[i];
    db[i] = -2.0 * dv[i] + 3.0 * dv[i] * av[i];
  }
  Tensor sum_t = add(a, b, -2.0), prod_t = scale(mul(a, b), 3.0);
  LB_EXPECT_CLOSE(sum_t, from(s, a.shape(), dt), 0, kTol32);
  LB_EXPECT_CLOSE(prod_t, from(p, a.shape(), dt), 0, 4 * kTol32);
  auto g = autograd::grad({sum_t, prod_t}, {a, b}, {dy, dy});
  LB_EXPECT_CLOSE(g[0], from(da, a.shape(), dt), 1e-6, 4 * kTol32);
  LB_EXPECT_CLOSE(g[1], from(db, a.shape(), dt), 1e-6, 4 * kTol32);
}

INSTANTIATE_TEST_SUITE_P(Elementwise, ElementwiseDtype, ::testing::Values(DType::Float32, DType::Float64),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(AddForward, HandComputedWithAlphaAndBroadcastScalar) {
  Tensor a = from({1, 2, 3}, {3}, DType::Float32);
  EXPECT_EQ(add(a, from({10, 20, 30}, {3}, DType::Float32), 0.5).to_vector(), (std::vector<double>{6, 12, 18}));
  EXPECT_EQ(add(a, from({4}, {1}, DType::Float32)).to_vector(), (std::vector<double>{5, 6, 7}));
}

TEST(AddBackward, BroadcastScalarGetsTheSumTimesAlpha) {
  Tensor a = random_tensor({2, 3}, 20).requires_grad_();
  Tensor s = random_tensor({1}, 21).requires_grad_();
  Tensor dy = random_tensor({2, 3}, 22);
  auto g = autograd::grad({add(a, s, -3.0)}, {a, s}, {dy});
  LB_EXPECT_CLOSE(g[0], dy, 0, 0);
  double total = 0;
  for (double v : dy.to_vector()) total += v;
  EXPECT_NEAR(g[1].item(), -3.0 * total, 1e-12);
}

TEST(MulForward, HandComputed) {
  Tensor y = mul(from({1, -2, 3}, {3}, DType::Float32), from({4, 5, -6}, {3}, DType::Float32));
  EXPECT_EQ(y.to_vector(), (std::vector<double>{4, -10, -18}));
}

TEST(MulBackward, EachInputGetsTheOtherTimesTheGradient) {
  Tensor a = random_tensor({4}, 23).requires_grad_(), b = random_tensor({4}, 24).requires_grad_();
  Tensor dy = random_tensor({4}, 25);
  auto g = autograd::grad({mul(a, b)}, {a, b}, {dy});
  for (int i = 0; i < 4; ++i) {
    EXPECT_DOUBLE_EQ(g[0].at(i), dy.at(i) * b.at(i));
    EXPECT_DOUBLE_EQ(g[1].at(i), dy.at(i) * a.at(i));
  }
}

TEST(ReluForward, HandComputed) {
  Tensor y = relu(from({-1.5, 0.0, 2.0}, {3}, DType::Float32));
  EXPECT_EQ(y.to_vector(), (std::vector<double>{0.0, 0.0, 2.0}));
}

TEST(ReluBackward, InPlaceMatchesOutOfPlace) {
  Tensor x = random_tensor({4, 6}, 6).requires_grad_();
  Tensor dy = random_tensor({4, 6}, 7);
  Tensor h1 = scale(x, 1.5);
  Tensor y1 = relu(h1);
  Tensor g1 = autograd::grad({y1}, {x}, {dy})[0];
  Tensor h2 = scale(x, 1.5);
  relu_(h2);
  Tensor g2 = autograd::grad({h2}, {x}, {dy})[0];
  LB_EXPECT_CLOSE(g2, g1, 0, 0);
}

TEST(ReluFiniteDiff, Float64) {
  // Push every input at least 0.1 away from the kink at 0 (step 1e-6), where relu has no derivative.
  Tensor x = random_tensor({3, 5}, 8);
  double* p = x.data<double>();
  for (int64_t i = 0; i < x.numel(); ++i) p[i] += p[i] >= 0 ? 0.1 : -0.1;
  x.requires_grad_();
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return relu(in[0]); }, {x}));
}

TEST(AddFiniteDiff, Float64WithBroadcastScalar) {
  Tensor a = random_tensor({3, 4}, 10).requires_grad_();
  Tensor b = random_tensor({1}, 11).requires_grad_();
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return add(in[0], in[1], 0.5); }, {a, b}));
}

TEST(AddForward, InPlaceAddKeepsHistory) {
  Tensor a = random_tensor({5}, 12).requires_grad_();
  Tensor b = random_tensor({5}, 13).requires_grad_();
  Tensor h = scale(a, 2.0);
  add_(h, b);  // h = 2a + b
  Tensor g = autograd::grad({h}, {a, b}, {Tensor::ones({5}, DType::Float64)})[0];
  LB_EXPECT_CLOSE(g, Tensor::full({5}, 2.0, DType::Float64), 0, 0);
}

TEST(MulFiniteDiff, Float64WithBroadcastScalar) {
  Tensor a = random_tensor({2, 3}, 14).requires_grad_();
  Tensor b = random_tensor({2, 3}, 15).requires_grad_();
  Tensor s = random_tensor({1}, 16).requires_grad_();
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return mul(in[0], in[1]); }, {a, b}));
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return mul(in[0], in[1]); }, {a, s}));
}

TEST(ScaleFiniteDiff, Float64) {
  Tensor a = random_tensor({4}, 17).requires_grad_();
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return scale(in[0], -0.25); }, {a}));
}

TEST(ElementwiseErrors, ShapeDtypeAndIntegerInputs) {
  Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({3, 2});
  EXPECT_THROW(add(a, b), Error);
  EXPECT_THROW(mul(a, Tensor::zeros({2, 3}, DType::Float64)), Error);
  EXPECT_THROW(relu(Tensor::zeros({2}, DType::Int64)), Error);
  try {
    add(a, b);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[2, 3]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[3, 2]"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lb
