// test_linear.cc: linear (y = x W^T + b) forward and backward: a hand-computed case, the GEMM
// backend against the naive double-precision oracle (tests/reference/linear_ref) in float32 and
// float64, finite differences in float64, and every error path. Inputs are uniform in [-1, 1).
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops/linear.h"
#include "engine/storage.h"
#include "tests/reference/linear_ref.h"
#include "tests/support/check.h"

namespace lb {
namespace {

struct LinearCase {
  const char* name;
  int64_t N, IN, OUT;
  bool bias;
};

const LinearCase kCases[] = {
    {"resnet_fc_512_to_2", 4, 512, 2, true}, {"resnet_fc_batch128", 128, 512, 2, true},
    {"square_16_no_bias", 3, 16, 16, false}, {"odd_33_to_17", 7, 33, 17, true},
    {"single_element", 1, 1, 1, true},       {"batch1_no_bias", 1, 10, 5, false},
};

std::string case_name(const testing::TestParamInfo<LinearCase>& info) { return info.param.name; }

struct LinearInputs {
  Tensor x, w, b;
};

LinearInputs make_inputs(const LinearCase& c, DType dt, bool requires_grad) {
  LinearInputs in;
  in.x = test::random_tensor({c.N, c.IN}, 41, dt);
  in.w = test::random_tensor({c.OUT, c.IN}, 42, dt);
  if (c.bias) in.b = test::random_tensor({c.OUT}, 43, dt);
  if (requires_grad) {
    in.x.requires_grad_();
    in.w.requires_grad_();
    if (c.bias) in.b.requires_grad_();
  }
  return in;
}

// ---- forward ------------------------------------------------------------------------------------

TEST(LinearForward, HandComputed) {
  // x = [[1,2,3],[4,5,6]], W = [[1,0,-1],[0.5,1,2]], b = [1,-1]:
  // y[0] = [1 - 3 + 1, 0.5 + 2 + 6 - 1] = [-1, 7.5], y[1] = [4 - 6 + 1, 2 + 5 + 12 - 1] = [-1, 18].
  // Small binary fractions: exact in both dtypes.
  for (DType dt : {DType::Float32, DType::Float64}) {
    Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, dt);
    Tensor w = Tensor::from_vector({1, 0, -1, 0.5, 1, 2}, {2, 3}, dt);
    Tensor b = Tensor::from_vector({1, -1}, {2}, dt);
    EXPECT_EQ(linear(x, w, b).to_vector(), (std::vector<double>{-1, 7.5, -1, 18}));
    EXPECT_EQ(linear(x, w, Tensor()).to_vector(), (std::vector<double>{-2, 8.5, -2, 19}));
  }
}

class LinearForward : public testing::TestWithParam<LinearCase> {};

TEST_P(LinearForward, Float64MatchesReference) {
  const LinearCase& c = GetParam();
  const LinearInputs in = make_inputs(c, DType::Float64, false);
  // Summation order only, over IN <= 512 products of magnitude <= 1: far below 1e-12.
  LB_EXPECT_CLOSE(linear(in.x, in.w, in.b), ref::linear_forward(in.x, in.w, in.b), 1e-12, 1e-12);
}

TEST_P(LinearForward, Float32MatchesReference) {
  const LinearCase& c = GetParam();
  const LinearInputs in = make_inputs(c, DType::Float32, false);
  // float32 GEMM over IN <= 512 products of magnitude <= 1 (|y| up to ~10):
  // rounding ~ sqrt(512) * 6e-8 * |y|, about 1e-5 at worst.
  LB_EXPECT_CLOSE(linear(in.x, in.w, in.b), ref::linear_forward(in.x, in.w, in.b), 2e-5, 2e-5);
}

INSTANTIATE_TEST_SUITE_P(Shapes, LinearForward, testing::ValuesIn(kCases), case_name);

// ---- backward -----------------------------------------------------------------------------------

TEST(LinearBackward, HandComputed) {
  // dy = ones: dx rows are the column sums of W, [1.5, 1, 1]; dW rows are the column sums of x,
  // [5, 7, 9]; db counts the rows, [2, 2].
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, DType::Float64).requires_grad_();
  Tensor w = Tensor::from_vector({1, 0, -1, 0.5, 1, 2}, {2, 3}, DType::Float64).requires_grad_();
  Tensor b = Tensor::from_vector({1, -1}, {2}, DType::Float64).requires_grad_();
  linear(x, w, b).backward(Tensor::ones({2, 2}, DType::Float64));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{1.5, 1, 1, 1.5, 1, 1}));
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{5, 7, 9, 5, 7, 9}));
  EXPECT_EQ(b.grad().to_vector(), (std::vector<double>{2, 2}));
}

class LinearBackward : public testing::TestWithParam<LinearCase> {};

void check_backward(const LinearCase& c, DType dt, double atol, double rtol) {
  const LinearInputs in = make_inputs(c, dt, true);
  Tensor y = linear(in.x, in.w, in.b);
  Tensor dy = test::random_tensor(y.shape(), 44, dt);
  std::vector<Tensor> wrt = {in.x, in.w};
  if (c.bias) wrt.push_back(in.b);
  const std::vector<Tensor> g = autograd::grad({y}, wrt, {dy});
  LB_EXPECT_CLOSE(g[0], ref::linear_backward_input(dy, in.w), atol, rtol);
  LB_EXPECT_CLOSE(g[1], ref::linear_backward_weight(in.x, dy), atol, rtol);
  if (c.bias) {
    LB_EXPECT_CLOSE(g[2], ref::linear_backward_bias(dy), atol, rtol);
  }
}

TEST_P(LinearBackward, Float64MatchesReference) {
  // Summation order only (dW sums N <= 128 products, dx sums OUT <= 17): far below 1e-12.
  check_backward(GetParam(), DType::Float64, 1e-12, 1e-12);
}

TEST_P(LinearBackward, Float32MatchesReference) {
  // dW entries sum N <= 128 float32 products of magnitude <= 1, dx entries OUT <= 17:
  // rounding ~ sqrt(terms) * 6e-8 * |sum| stays below 1e-5.
  check_backward(GetParam(), DType::Float32, 2e-5, 2e-5);
}

INSTANTIATE_TEST_SUITE_P(Shapes, LinearBackward, testing::ValuesIn(kCases), case_name);

TEST(LinearBackward, FrozenWeightStillPassesInputGrad) {
  // Transfer learning freezes layers; a frozen head still passes dx down.
  const LinearCase c = kCases[3];
  LinearInputs in = make_inputs(c, DType::Float64, false);
  in.x.requires_grad_();
  Tensor y = linear(in.x, in.w, in.b);
  Tensor dy = test::random_tensor(y.shape(), 45);
  y.backward(dy);
  EXPECT_FALSE(in.w.grad().defined());
  // Summation order only.
  LB_EXPECT_CLOSE(in.x.grad(), ref::linear_backward_input(dy, in.w), 1e-12, 1e-12);
}

TEST(LinearBackward, ConstantInputGetsOnlyParameterGrads) {
  const LinearCase c = kCases[0];
  LinearInputs in = make_inputs(c, DType::Float64, false);
  in.w.requires_grad_();
  in.b.requires_grad_();
  Tensor y = linear(in.x, in.w, in.b);
  Tensor dy = test::random_tensor(y.shape(), 46);
  y.backward(dy);
  EXPECT_FALSE(in.x.grad().defined());
  // Summation order only.
  LB_EXPECT_CLOSE(in.w.grad(), ref::linear_backward_weight(in.x, dy), 1e-12, 1e-12);
  LB_EXPECT_CLOSE(in.b.grad(), ref::linear_backward_bias(dy), 1e-12, 1e-12);
}

TEST(LinearBackward, NodeDescribesItself) {
  Tensor x = test::random_tensor({2, 512}, 47);
  Tensor w = test::random_tensor({2, 512}, 48).requires_grad_();
  Tensor y = linear(x, w, Tensor());
  ASSERT_NE(y.grad_fn(), nullptr);
  EXPECT_STREQ(y.grad_fn()->kind(), "linear");
  EXPECT_EQ(y.grad_fn()->describe(), "in=512 out=2");
}

// ---- finite differences -------------------------------------------------------------------------

// linear is bilinear in (x, W) and linear in b, so central differences carry no truncation error;
// gradcheck's default atol 1e-6 / rtol 1e-5 covers float64 rounding with a wide margin.
void expect_gradcheck(int64_t n, int64_t in_features, int64_t out_features, bool bias) {
  Tensor x = test::random_tensor({n, in_features}, 51).requires_grad_();
  Tensor w = test::random_tensor({out_features, in_features}, 52).requires_grad_();
  Tensor b = bias ? test::random_tensor({out_features}, 53).requires_grad_() : Tensor();
  auto f = [](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); };
  EXPECT_TRUE(test::gradcheck(f, {x, w, b}));
}

TEST(LinearFiniteDiff, WithBias) { expect_gradcheck(3, 5, 4, true); }
TEST(LinearFiniteDiff, NoBias) { expect_gradcheck(2, 7, 3, false); }
TEST(LinearFiniteDiff, ClassifierHead) { expect_gradcheck(4, 16, 2, true); }

// ---- errors -------------------------------------------------------------------------------------

void expect_linear_error(const std::function<void()>& f, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "expected lb::Error mentioning \"" << fragment << "\"";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind("linear", 0), 0u) << msg;
    EXPECT_NE(msg.find(fragment), std::string::npos) << msg;
  }
}

Tensor t64(const Shape& s) { return Tensor::zeros(s, DType::Float64); }

TEST(LinearErrors, InputMustBe2D) {
  expect_linear_error([] { linear(t64({2, 512, 1, 1}), t64({2, 512}), Tensor()); }, "input must be 2-D");
}

TEST(LinearErrors, WeightMustBe2D) {
  expect_linear_error([] { linear(t64({2, 4}), t64({4}), Tensor()); }, "weight must be 2-D");
}

TEST(LinearErrors, FeatureMismatch) {
  expect_linear_error(
      [] {
        linear(t64({2, 4}), t64({3, 5}), Tensor());
      },
      "input has 4 features but weight expects 5; input [2, 4], weight [3, 5]");
}

TEST(LinearErrors, DtypeMismatch) {
  expect_linear_error(
      [] {
        linear(Tensor::zeros({2, 4}), t64({3, 4}), Tensor());
      },
      "got input float32, weight float64");
  expect_linear_error([] { linear(t64({2, 4}), t64({3, 4}), Tensor::zeros({3})); }, "bias float32");
}

TEST(LinearErrors, IntegerTensors) {
  const Tensor x = Tensor::zeros({2, 4}, DType::Int64), w = Tensor::zeros({3, 4}, DType::Int64);
  expect_linear_error([&] { linear(x, w, Tensor()); }, "expected float32 or float64");
}

TEST(LinearErrors, BiasShape) {
  expect_linear_error([] { linear(t64({2, 4}), t64({3, 4}), t64({4})); }, "one entry per output feature (3)");
  expect_linear_error([] { linear(t64({2, 4}), t64({3, 4}), t64({3, 1})); }, "bias [3, 1]");
}

TEST(LinearErrors, EmptyWeight) {
  expect_linear_error([] { linear(t64({2, 0}), t64({3, 0}), Tensor()); }, "empty dimension");
}

TEST(LinearErrors, UndefinedInput) {
  expect_linear_error([] { linear(Tensor(), t64({3, 4}), Tensor()); }, "must be defined");
}

TEST(LinearErrors, MixedDevicesNameTheFix) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: a CUDA tensor cannot be made";
  Tensor x = Tensor::zeros({2, 4}, DType::Float32, Device::cuda());
  Tensor w = Tensor::zeros({3, 4}, DType::Float32);
  expect_linear_error([&] { linear(x, w, Tensor()); }, "must be on one device");
}

}  // namespace
}  // namespace lb
