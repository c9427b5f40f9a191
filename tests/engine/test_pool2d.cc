// test_pool2d.cc: max_pool2d (values and indices) and adaptive_avg_pool2d, forward and backward,
// against hand computations, the double-precision oracle (tests/reference/pool2d_ref.h) and
// finite differences; overlapping windows and bins; in-place safety; the error messages.
//
// Shapes include ResNet18's: the stem max pool k3 s2 p1 taking 14x14 to 7x7 (a 28x28 input after
// the stride-2 conv), and the head's adaptive average pool to 1x1.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/pool2d.h"
#include "engine/storage.h"
#include "tests/reference/pool2d_ref.h"
#include "tests/support/check.h"

namespace lb {
namespace {

using test::error_of;

using test::random_tensor;

#define EXPECT_HAS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << (msg)

Tensor vec64(const std::vector<double>& v, const Shape& shape) { return Tensor::from_vector(v, shape, DType::Float64); }

// Distinct values k * 0.01 (k = 0 .. n-1) in a seeded random order, shifted to straddle zero:
// no ties, and every gap (0.01) dwarfs the finite-difference step (1e-6), so the argmax of each
// window is stable under the perturbation.
Tensor distinct_tensor(const Shape& shape, uint64_t seed) {
  std::vector<double> v(shape_numel(shape));
  for (size_t i = 0; i < v.size(); ++i) v[i] = 0.01 * static_cast<double>(i) - 0.005 * static_cast<double>(v.size());
  std::mt19937_64 rng(seed);
  std::shuffle(v.begin(), v.end(), rng);
  return vec64(v, shape);
}

struct PoolCase {
  Shape shape;
  int64_t kernel, stride, padding;
};

const std::vector<PoolCase>& max_cases() {
  static const std::vector<PoolCase> c = {
      {{2, 64, 14, 14}, 3, 2, 1},  // ResNet18 stem at 28x28 input
      {{2, 3, 9, 11}, 3, 2, 1},    // odd sizes
      {{2, 3, 7, 5}, 2, 2, 0},     // the last row/column falls outside every window
      {{1, 2, 6, 6}, 3, 1, 1},     // heavy overlap: each input in up to 9 windows
      {{3, 2, 5, 5}, 5, 1, 2},     // padding at its limit kernel / 2
      {{1, 1, 8, 3}, 3, 3, 0},     // stride = kernel, tall plane
      {{2, 2, 13, 13}, 3, 2, 0},
  };
  return c;
}

std::string case_str(const PoolCase& c) {
  return shape_str(c.shape) + " k=" + std::to_string(c.kernel) + " s=" + std::to_string(c.stride) +
         " p=" + std::to_string(c.padding);
}

// ---- max pool forward ------------------------------------------------------------------------

TEST(MaxPool2dForward, HandComputed) {
  Tensor x = vec64({1, 5, 2, 0,  //
                    3, 4, 8, 7,  //
                    6, 2, 1, 9,  //
                    0, 3, 4, 2},
                   {1, 1, 4, 4});
  MaxPoolResult r = max_pool2d_with_indices(x, 2, 2);
  EXPECT_EQ(r.output.to_vector(), (std::vector<double>{5, 8, 6, 9}));
  EXPECT_EQ(r.indices.dtype(), DType::Int64);
  EXPECT_EQ(r.indices.to_vector(), (std::vector<double>{1, 6, 8, 11}));  // h * W + w
}

TEST(MaxPool2dForward, StemShapeAndMatchesReference) {
  for (DType dt : {DType::Float32, DType::Float64}) {
    for (const PoolCase& c : max_cases()) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " " + case_str(c));
      Tensor x = random_tensor(c.shape, 1, dt);
      MaxPoolResult r = max_pool2d_with_indices(x, c.kernel, c.stride, c.padding);
      auto want = ref::max_pool2d_forward(x, c.kernel, c.stride, c.padding);
      // Exact: a maximum is one of the inputs, copied without arithmetic.
      LB_EXPECT_CLOSE(r.output, want.output, 0.0, 0.0);
      EXPECT_EQ(r.indices.to_vector(), want.indices.to_vector());
    }
  }
  EXPECT_EQ(max_pool2d(Tensor::zeros({2, 64, 14, 14}), 3, 2, 1).shape(), (Shape{2, 64, 7, 7}));
}

TEST(MaxPool2dForward, PaddingActsAsMinusInfinity) {
  // All inputs negative: a zero-padded pool would return 0 on the border windows.
  Tensor x = random_tensor({2, 3, 6, 7}, 2, DType::Float64, -3.0, -1.0);
  MaxPoolResult r = max_pool2d_with_indices(x, 3, 2, 1);
  for (double v : r.output.to_vector()) EXPECT_LT(v, -1.0 + 1e-12);
  for (double i : r.indices.to_vector()) EXPECT_TRUE(i >= 0 && i < 42) << i;
  LB_EXPECT_CLOSE(r.output, ref::max_pool2d_forward(x, 3, 2, 1).output, 0.0, 0.0);  // exact copies
}

TEST(MaxPool2dForward, TiesPickTheFirstMaximum) {
  Tensor x = Tensor::ones({1, 1, 4, 4}, DType::Float64);
  EXPECT_EQ(max_pool2d_with_indices(x, 2, 2).indices.to_vector(), (std::vector<double>{0, 2, 8, 10}));
  // k3 s1 p1: the first real cell of each window, i.e. row max(p-1, 0), column max(q-1, 0).
  std::vector<double> want;
  for (int p = 0; p < 4; ++p)
    for (int q = 0; q < 4; ++q) want.push_back(std::max(p - 1, 0) * 4 + std::max(q - 1, 0));
  EXPECT_EQ(max_pool2d_with_indices(x, 3, 1, 1).indices.to_vector(), want);
}

TEST(MaxPool2dForward, NaNPropagates) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Tensor x = vec64({1, nan, 2, 3}, {1, 1, 2, 2});
  MaxPoolResult r = max_pool2d_with_indices(x, 2, 2);
  EXPECT_TRUE(std::isnan(r.output.item()));
  EXPECT_EQ(r.indices.item(), 1.0);
}

TEST(MaxPool2dForward, RecordsKindAndSettings) {
  Tensor x = random_tensor({1, 2, 6, 6}, 3);
  EXPECT_FALSE(max_pool2d(x, 3, 2, 1).requires_grad());
  x.requires_grad_();
  Tensor y = max_pool2d(x, 3, 2, 1);
  ASSERT_TRUE(y.grad_fn());
  EXPECT_STREQ(y.grad_fn()->kind(), "max_pool2d");
  EXPECT_EQ(y.grad_fn()->describe(), "k=3 s=2 p=1");
  LB_EXPECT_CLOSE(y, max_pool2d_with_indices(x, 3, 2, 1).output, 0.0, 0.0);  // same loop, same values
}

// ---- max pool backward ---------------------------------------------------------------------------

TEST(MaxPool2dBackward, OverlappingWindowsSum) {
  // k3 s1 on 3x4 gives two windows (columns 0-2 and 1-3); both hold the maximum 9 at (1, 2).
  Tensor x = vec64({1, 2, 3, 0,  //
                    4, 5, 9, 1,  //
                    2, 8, 0, 7},
                   {1, 1, 3, 4})
                 .requires_grad_();
  Tensor y = max_pool2d(x, 3, 1);
  ASSERT_EQ(y.shape(), (Shape{1, 1, 1, 2}));
  y.backward(vec64({0.5, 2.0}, {1, 1, 1, 2}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{0, 0, 0, 0, 0, 0, 2.5, 0, 0, 0, 0, 0}));
  // k3 s1 p1 on 3x3 with the maximum in the centre: all nine windows pick it.
  Tensor c = vec64({1, 2, 3, 4, 10, 5, 6, 7, 8}, {1, 1, 3, 3}).requires_grad_();
  max_pool2d(c, 3, 1, 1).backward(Tensor::ones({1, 1, 3, 3}, DType::Float64));
  // 10 sits in every window (padding keeps the corner windows 2x2 around it): 9 ones sum there.
  EXPECT_EQ(c.grad().to_vector(), (std::vector<double>{0, 0, 0, 0, 9, 0, 0, 0, 0}));
}

TEST(MaxPool2dBackward, MatchesReference) {
  for (DType dt : {DType::Float32, DType::Float64}) {
    for (const PoolCase& c : max_cases()) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " " + case_str(c));
      Tensor x = random_tensor(c.shape, 4, dt).requires_grad_();
      MaxPoolResult r = max_pool2d_with_indices(x, c.kernel, c.stride, c.padding);
      Tensor dy = random_tensor(r.output.shape(), 5, dt);
      Tensor dx = autograd::grad({r.output}, {x}, {dy})[0];
      // The oracle gathers from its own indices, so a wrong index in the engine shows up here.
      auto want = ref::max_pool2d_forward(x, c.kernel, c.stride, c.padding);
      // float32 sums at most 9 gradients of O(1) per input: a few ulps. float64: exact order.
      const double tol = dt == DType::Float32 ? 1e-6 : 1e-14;
      LB_EXPECT_CLOSE(dx, ref::max_pool2d_backward(dy, want.indices, c.shape), tol, tol);
    }
  }
}

TEST(MaxPool2dBackward, IndicesWrittenInPlaceAreDetected) {
  Tensor x = random_tensor({1, 1, 4, 4}, 6).requires_grad_();
  MaxPoolResult r = max_pool2d_with_indices(x, 2, 2);
  r.indices.fill_(0.0);
  const std::string msg = error_of([&] { r.output.backward(Tensor::ones({1, 1, 2, 2}, DType::Float64)); });
  EXPECT_HAS(msg, "max_pool2d");
  EXPECT_HAS(msg, "indices");
}

TEST(MaxPool2dBackward, InputWrittenInPlaceIsFine) {
  // Only the indices are saved, so relu_ on the pooled tensor afterwards is legal.
  Tensor a = random_tensor({1, 2, 4, 4}, 7).requires_grad_();
  Tensor h = scale(a, 1.0);
  MaxPoolResult r = max_pool2d_with_indices(h, 2, 2);
  relu_(h);
  Tensor dy = random_tensor(r.output.shape(), 8);
  Tensor da = autograd::grad({r.output}, {a}, {dy})[0];
  LB_EXPECT_CLOSE(da, ref::max_pool2d_backward(dy, r.indices, a.shape()), 0.0, 0.0);  // one term each
}

// ---- max pool finite differences (float64) ---------------------------------------------------

// Default gradcheck tolerances (atol 1e-6, rtol 1e-5): away from ties the max is locally linear,
// so central differences are exact up to rounding (~1e-10).
TEST(MaxPool2dFiniteDiff, DistinctValues) {
  for (const PoolCase& c : {PoolCase{{2, 2, 7, 7}, 3, 2, 1}, PoolCase{{1, 2, 5, 6}, 3, 1, 1},
                            PoolCase{{1, 1, 4, 4}, 2, 2, 0}, PoolCase{{1, 2, 5, 5}, 5, 1, 2}}) {
    SCOPED_TRACE(case_str(c));
    Tensor x = distinct_tensor(c.shape, 9).requires_grad_();
    EXPECT_TRUE(test::gradcheck(
        [&](const std::vector<Tensor>& v) { return max_pool2d(v[0], c.kernel, c.stride, c.padding); }, {x}));
  }
}

// ---- max pool errors ------------------------------------------------------------------------------

TEST(MaxPool2dErrors, BadInputs) {
  std::string msg = error_of([] { max_pool2d(Tensor::zeros({2, 4, 4}), 2, 2); });
  EXPECT_HAS(msg, "max_pool2d: expected a 4-D input");
  msg = error_of([] { max_pool2d(Tensor::zeros({1, 1, 4, 4}, DType::Int64), 2, 2); });
  EXPECT_HAS(msg, "max_pool2d: expected a float32 or float64 input");
}

TEST(MaxPool2dErrors, BadSettings) {
  Tensor x = Tensor::zeros({1, 1, 6, 6});
  EXPECT_EQ(error_of([&] { max_pool2d(x, 3, 2, 2); }),
            "max_pool2d: padding 2 must be at most kernel / 2 = 1 (kernel 3), as in PyTorch");
  EXPECT_HAS(error_of([&] { max_pool2d(x, 0, 1); }), "must be positive");
  EXPECT_HAS(error_of([&] { max_pool2d(x, 2, 0); }), "must be positive");
  EXPECT_HAS(error_of([&] { max_pool2d(x, 2, 1, -1); }), "non-negative");
  const std::string msg = error_of([] { max_pool2d(Tensor::zeros({1, 1, 2, 5}), 3, 1); });
  EXPECT_HAS(msg, "max_pool2d: input [1, 1, 2, 5] is too small for k=3 s=1 p=0");
}

TEST(MaxPool2dErrors, CudaFloat64NamesTheFix) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: a CUDA tensor cannot be made here";
  Tensor x = Tensor::zeros({1, 1, 4, 4}, DType::Float64, Device::cuda());
  EXPECT_HAS(error_of([&] { max_pool2d(x, 2, 2); }), "max_pool2d: CUDA kernels take float32");
}

// ---- adaptive average pool ----------------------------------------------------------------------

struct AdaptiveCase {
  Shape shape;
  int64_t out_h, out_w;
};

const std::vector<AdaptiveCase>& adaptive_cases() {
  static const std::vector<AdaptiveCase> c = {
      {{2, 3, 5, 7}, 2, 3},    // non-divisible, overlapping bins
      {{2, 64, 7, 7}, 1, 1},   // ResNet18 head at 224x224 input
      {{3, 512, 1, 1}, 1, 1},  // ResNet18 head at 28x28 input: the identity
      {{2, 4, 14, 14}, 7, 7},  // divisible
      {{1, 2, 4, 4}, 3, 3},    // every inner bin overlaps its neighbours
      {{1, 2, 3, 3}, 5, 5},    // more outputs than inputs: bins repeat cells
      {{2, 3, 6, 9}, 4, 4},
  };
  return c;
}

std::string case_str(const AdaptiveCase& c) {
  return shape_str(c.shape) + " -> " + std::to_string(c.out_h) + "x" + std::to_string(c.out_w);
}

// float32: the window sum is accumulated in double and rounded once; the backward adds up to a
// few float32 products dy / count. float64: summation order only.
double pool_tol(DType dt) { return dt == DType::Float32 ? 1e-6 : 1e-14; }

TEST(AdaptiveAvgPool2dForward, HandComputed) {
  // 3x3 -> 2x2: bins [0, 2) and [1, 3) on both axes, overlapping in the middle row and column.
  Tensor x = vec64({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
  LB_EXPECT_CLOSE(adaptive_avg_pool2d(x, 2, 2), vec64({3, 4, 6, 7}, {1, 1, 2, 2}), 0.0, 0.0);  // exact
  // 5x7 -> 2x3 on x = 7h + w: a bin's average is the value at its centre. Row bins [0, 3) and
  // [2, 5) (centres 1, 3); column bins [0, 3), [2, 5), [4, 7) (centres 1, 3, 5).
  std::vector<double> v(35);
  std::iota(v.begin(), v.end(), 0.0);
  LB_EXPECT_CLOSE(adaptive_avg_pool2d(vec64(v, {1, 1, 5, 7}), 2, 3), vec64({8, 10, 12, 22, 24, 26}, {1, 1, 2, 3}),
                  1e-14, 0.0);  // averages of 9 integers: one rounding
}

TEST(AdaptiveAvgPool2dForward, GlobalPoolIsThePlaneMean) {
  Tensor x = random_tensor({2, 512, 7, 7}, 10, DType::Float64);
  const std::vector<double> xv = x.to_vector();
  std::vector<double> want(2 * 512);
  for (size_t p = 0; p < want.size(); ++p)
    want[p] = std::accumulate(xv.begin() + 49 * p, xv.begin() + 49 * (p + 1), 0.0) / 49;
  LB_EXPECT_CLOSE(adaptive_avg_pool2d(x, 1, 1), vec64(want, {2, 512, 1, 1}), 1e-14, 0.0);  // summation order
  Tensor one = random_tensor({3, 512, 1, 1}, 11, DType::Float32);
  LB_EXPECT_CLOSE(adaptive_avg_pool2d(one, 1, 1), one, 0.0, 0.0);  // a 1x1 bin copies exactly
}

TEST(AdaptiveAvgPool2dForward, MatchesReference) {
  for (DType dt : {DType::Float32, DType::Float64}) {
    for (const AdaptiveCase& c : adaptive_cases()) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " " + case_str(c));
      Tensor x = random_tensor(c.shape, 12, dt);
      LB_EXPECT_CLOSE(adaptive_avg_pool2d(x, c.out_h, c.out_w), ref::adaptive_avg_pool2d_forward(x, c.out_h, c.out_w),
                      pool_tol(dt), pool_tol(dt));
    }
  }
}

TEST(AdaptiveAvgPool2dForward, RecordsKindAndSettings) {
  Tensor x = random_tensor({1, 1, 5, 7}, 13).requires_grad_();
  Tensor y = adaptive_avg_pool2d(x, 2, 3);
  ASSERT_TRUE(y.grad_fn());
  EXPECT_STREQ(y.grad_fn()->kind(), "adaptive_avg_pool2d");
  EXPECT_EQ(y.grad_fn()->describe(), "out=2x3");
}

TEST(AdaptiveAvgPool2dBackward, HandComputedOverlap) {
  // 3x3 -> 2x2, dy = 1: a corner is in one bin of 4 cells, an edge in two, the centre in four.
  Tensor x = random_tensor({1, 1, 3, 3}, 14).requires_grad_();
  adaptive_avg_pool2d(x, 2, 2).backward(Tensor::ones({1, 1, 2, 2}, DType::Float64));
  LB_EXPECT_CLOSE(x.grad(), vec64({0.25, 0.5, 0.25, 0.5, 1, 0.5, 0.25, 0.5, 0.25}, {1, 1, 3, 3}), 0.0, 0.0);
}

TEST(AdaptiveAvgPool2dBackward, MatchesReference) {
  for (DType dt : {DType::Float32, DType::Float64}) {
    for (const AdaptiveCase& c : adaptive_cases()) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " " + case_str(c));
      Tensor x = random_tensor(c.shape, 15, dt).requires_grad_();
      Tensor y = adaptive_avg_pool2d(x, c.out_h, c.out_w);
      Tensor dy = random_tensor(y.shape(), 16, dt);
      LB_EXPECT_CLOSE(autograd::grad({y}, {x}, {dy})[0], ref::adaptive_avg_pool2d_backward(dy, c.shape), pool_tol(dt),
                      pool_tol(dt));
    }
  }
}

// Default gradcheck tolerances (atol 1e-6, rtol 1e-5): the op is linear, so central differences
// are exact up to rounding (~1e-10).
TEST(AdaptiveAvgPool2dFiniteDiff, OverlappingAndUpsamplingBins) {
  for (const AdaptiveCase& c :
       {AdaptiveCase{{2, 2, 5, 7}, 2, 3}, AdaptiveCase{{1, 2, 3, 3}, 5, 4}, AdaptiveCase{{2, 3, 4, 4}, 1, 1}}) {
    SCOPED_TRACE(case_str(c));
    Tensor x = random_tensor(c.shape, 17).requires_grad_();
    EXPECT_TRUE(test::gradcheck(
        [&](const std::vector<Tensor>& v) { return adaptive_avg_pool2d(v[0], c.out_h, c.out_w); }, {x}));
  }
}

TEST(AdaptiveAvgPool2dErrors, BadInputsAndSizes) {
  EXPECT_HAS(error_of([] {
               adaptive_avg_pool2d(Tensor::zeros({4, 4}), 1, 1);
             }),
             "adaptive_avg_pool2d: expected a 4-D input");
  EXPECT_HAS(error_of([] {
               adaptive_avg_pool2d(Tensor::zeros({1, 1, 4, 4}, DType::UInt8), 1, 1);
             }),
             "adaptive_avg_pool2d: expected a float32 or float64 input");
  EXPECT_HAS(error_of([] {
               adaptive_avg_pool2d(Tensor::zeros({1, 1, 4, 4}), 0, 2);
             }),
             "adaptive_avg_pool2d: output size 0x2 must be positive");
  EXPECT_HAS(error_of([] { adaptive_avg_pool2d(Tensor::zeros({1, 1, 0, 4}), 1, 1); }), "empty plane");
}

TEST(AdaptiveAvgPool2dErrors, CudaFloat64NamesTheFix) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: a CUDA tensor cannot be made here";
  Tensor x = Tensor::zeros({1, 1, 4, 4}, DType::Float64, Device::cuda());
  EXPECT_HAS(error_of([&] { adaptive_avg_pool2d(x, 1, 1); }), "adaptive_avg_pool2d: CUDA kernels take float32");
}

}  // namespace
}  // namespace lb
