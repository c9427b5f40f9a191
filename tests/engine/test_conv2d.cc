// test_conv2d.cc: conv2d forward and backward, in the project's test layers: hand-computed tiny
// cases, the fast CPU backend against the naive double-precision oracle (tests/reference/conv2d_ref)
// over every ResNet18 conv shape class in float32 and float64, finite differences in float64, and
// every error path.
//
// Inputs are uniform in [-1, 1). Sizes are shrunk (few channels, small maps) so the oracle's
// seven nested loops stay fast; the shape classes (kernel, stride, pad, map-to-GEMM blocking) are
// what matter, not the channel counts.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops/conv2d.h"
#include "engine/ops/elementwise.h"
#include "engine/storage.h"
#include "tests/reference/conv2d_ref.h"
#include "tests/support/check.h"

namespace lb {
namespace {

struct ConvCase {
  const char* name;
  int64_t N, C, H, W, K, R, S, stride, pad;
  bool bias;
};

// The CPU backend puts ceil(128 / (P*Q)) images into one GEMM (capped so every thread gets work),
// so the small-map cases also cover groups of several images and a short last group. It stays on
// one thread below 2^20 multiply-adds; the last three cases are above that, so the multi-threaded
// paths (per-thread column buffers, per-thread partial dW summed in order) run too.
const ConvCase kCases[] = {
    {"stem_7x7_s2_p3_grey", 2, 1, 28, 28, 8, 7, 7, 2, 3, false},
    {"stem_7x7_s2_p3_rgb", 1, 3, 20, 18, 4, 7, 7, 2, 3, false},
    {"block_3x3_s1_p1", 3, 8, 7, 7, 8, 3, 3, 1, 1, false},
    {"block_3x3_s2_p1", 2, 8, 7, 7, 16, 3, 3, 2, 1, false},
    {"downsample_1x1_s2_p0", 3, 8, 7, 7, 16, 1, 1, 2, 0, false},
    {"pointwise_1x1_s1_p0_5x7", 3, 16, 5, 7, 4, 1, 1, 1, 0, true},
    {"pointwise_1x1_s1_p0_12x12", 2, 5, 12, 12, 3, 1, 1, 1, 0, false},
    {"odd_5x7_3x3_s1_p1_batch1", 1, 3, 5, 7, 5, 3, 3, 1, 1, true},
    {"wide_c64_3x3_s1_p1", 2, 64, 6, 6, 8, 3, 3, 1, 1, true},  // C*R*S = 576, as in layer1
    {"layer4_1x1_map_3x3_s1_p1", 5, 16, 1, 1, 8, 3, 3, 1, 1, false},
    {"layer3_3x3_map_3x3_s2_p1", 6, 8, 3, 3, 8, 3, 3, 2, 1, true},
    {"batch17_4x4_map_3x3_s1_p1", 17, 4, 4, 4, 4, 3, 3, 1, 1, true},
    {"rect_2x3_s1_p0", 2, 2, 6, 5, 3, 2, 3, 1, 0, true},
    {"rect_3x2_s3_p2", 2, 3, 8, 9, 2, 3, 2, 3, 2, true},                // some windows lie wholly in the pad
    {"threaded_layer1_3x3_s1_p1", 8, 32, 7, 7, 32, 3, 3, 1, 1, false},  // 3.6M multiply-adds
    {"threaded_layer4_1x1_map_3x3", 24, 128, 1, 1, 64, 3, 3, 1, 1, false},
    {"threaded_pointwise_1x1_s1_16x16", 4, 32, 16, 16, 64, 1, 1, 1, 0, true},
    // Dead taps (taps that read only padding are dropped from the GEMMs): layer4's first conv at
    // 28x28 (2x2 -> 1x1, stride 2: 4 of 9 taps live), a 1x2 map (3 of 9), and a conv whose every
    // output position reads only padding (no live tap: the output is the bias).
    {"dead_taps_2x2_to_1x1_s2_p1", 5, 6, 2, 2, 4, 3, 3, 2, 1, true},
    {"dead_taps_1x2_map_3x3_s1_p1", 3, 5, 1, 2, 4, 3, 3, 1, 1, false},
    {"dead_taps_all_1x1_k1_s3_p2", 2, 3, 1, 1, 2, 1, 1, 3, 2, true},
    {"threaded_dead_taps_2x2_to_1x1_s2_p1", 24, 128, 2, 2, 64, 3, 3, 2, 1, false},
    // 128 channels on a 7x7 map: float32 forward and input gradient take Winograd F(2x2, 3x3)
    // (engine/cpu/conv2d.cc, ConvAlgo::Auto), held to the same tolerances as the direct method.
    {"winograd_f2x2_c128_7x7_s1_p1", 2, 128, 7, 7, 128, 3, 3, 1, 1, true},
};

std::string case_name(const testing::TestParamInfo<ConvCase>& info) { return info.param.name; }

struct ConvInputs {
  Tensor x, w, b;
};

ConvInputs make_inputs(const ConvCase& c, DType dt, bool requires_grad) {
  ConvInputs in;
  in.x = test::random_tensor({c.N, c.C, c.H, c.W}, 11, dt);
  in.w = test::random_tensor({c.K, c.C, c.R, c.S}, 12, dt);
  if (c.bias) in.b = test::random_tensor({c.K}, 13, dt);
  if (requires_grad) {
    in.x.requires_grad_();
    in.w.requires_grad_();
    if (c.bias) in.b.requires_grad_();
  }
  return in;
}

Shape out_shape(const ConvCase& c) {
  return {c.N, c.K, (c.H + 2 * c.pad - c.R) / c.stride + 1, (c.W + 2 * c.pad - c.S) / c.stride + 1};
}

// ---- forward ------------------------------------------------------------------------------------

TEST(Conv2dForward, HandComputed2x2Kernel) {
  // x = [[1,2,3],[4,5,6],[7,8,9]], w = [[1,2],[3,4]], b = 0.5: y[p][q] = sum of the 2x2 window
  // weighted by w, e.g. y[0][0] = 1*1 + 2*2 + 4*3 + 5*4 + 0.5 = 37.5. Small integers: exact.
  for (DType dt : {DType::Float32, DType::Float64}) {
    Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3}, dt);
    Tensor w = Tensor::from_vector({1, 2, 3, 4}, {1, 1, 2, 2}, dt);
    Tensor b = Tensor::from_vector({0.5}, {1}, dt);
    Tensor y = conv2d(x, w, b);
    EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
    EXPECT_EQ(y.to_vector(), (std::vector<double>{37.5, 47.5, 67.5, 77.5}));
  }
}

TEST(Conv2dForward, HandComputedStride2Pad1) {
  // A 2x2 kernel of ones over the 3x3 image padded by 1, stride 2: windows start at rows and
  // columns -1 and 1, so they sum {1}, {2,3}, {4,7}, {5,6,8,9}.
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3}, DType::Float64);
  Tensor w = Tensor::ones({1, 1, 2, 2}, DType::Float64);
  Tensor y = conv2d(x, w, Tensor(), /*stride=*/2, /*padding=*/1);
  EXPECT_EQ(y.to_vector(), (std::vector<double>{1, 5, 11, 28}));
}

TEST(Conv2dForward, HandComputedPointwiseMixesChannels) {
  // 1x1 kernel: each output pixel mixes the two input channels at that pixel.
  // out0 = in0 + in1, out1 = 2*in0 - in1.
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 10, 20, 30, 40}, {1, 2, 2, 2}, DType::Float32);
  Tensor w = Tensor::from_vector({1, 1, 2, -1}, {2, 2, 1, 1}, DType::Float32);
  Tensor y = conv2d(x, w, Tensor());
  EXPECT_EQ(y.to_vector(), (std::vector<double>{11, 22, 33, 44, -8, -16, -24, -32}));
}

class Conv2dForward : public testing::TestWithParam<ConvCase> {};

TEST_P(Conv2dForward, Float64MatchesReference) {
  const ConvCase& c = GetParam();
  const ConvInputs in = make_inputs(c, DType::Float64, false);
  Tensor y = conv2d(in.x, in.w, in.b, c.stride, c.pad);
  ASSERT_EQ(y.shape(), out_shape(c));
  // float64 GEMM and the double loops differ only in summation order over C*R*S <= 1152 products
  // of magnitude <= 1: a few ulps of the sum, far below 1e-12.
  LB_EXPECT_CLOSE(y, ref::conv2d_forward(in.x, in.w, in.b, c.stride, c.pad), 1e-12, 1e-12);
}

TEST_P(Conv2dForward, Float32MatchesReference) {
  const ConvCase& c = GetParam();
  const ConvInputs in = make_inputs(c, DType::Float32, false);
  Tensor y = conv2d(in.x, in.w, in.b, c.stride, c.pad);
  ASSERT_EQ(y.dtype(), DType::Float32);
  // The oracle sums the same float32 values in double. float32 GEMM over C*R*S <= 1152 products
  // of magnitude <= 1 (|y| up to ~15): rounding ~ sqrt(1152) * 6e-8 * |y|, about 3e-5 at worst, so
  // 2e-5 absolute plus 2e-5 relative; the measured worst is about 5e-6.
  LB_EXPECT_CLOSE(y, ref::conv2d_forward(in.x, in.w, in.b, c.stride, c.pad), 2e-5, 2e-5);
}

INSTANTIATE_TEST_SUITE_P(ResNet18Shapes, Conv2dForward, testing::ValuesIn(kCases), case_name);

// ---- the packed-weight cache ----------------------------------------------------------------------

// A weight that needs no gradient keeps its packed form across calls (engine/cpu/conv2d_weight_cache.h)
// while its owner lives and its version stands. Every way its values can change must reach the
// output; a stale pack would give the previous weight's result, 2x off or worse here.
TEST(Conv2dWeightCache, EveryChangeOfTheWeightReachesTheOutput) {
  const Tensor x = test::random_tensor({3, 8, 7, 7}, 21, DType::Float32);
  Tensor w = test::random_tensor({16, 8, 3, 3}, 22, DType::Float32);  // needs no gradient
  // As Conv2dForward.Float32MatchesReference: float32 sums of 72 products against double ones.
  auto expect_matches = [&](const Tensor& wt, int64_t stride, const char* what) {
    SCOPED_TRACE(what);
    LB_EXPECT_CLOSE(conv2d(x, wt, Tensor(), stride, 1), ref::conv2d_forward(x, wt, Tensor(), stride, 1), 2e-5, 2e-5);
  };
  for (int64_t stride : {1, 2}) {
    expect_matches(w, stride, "first call packs");
    const Tensor again = conv2d(x, w, Tensor(), stride, 1);
    EXPECT_TRUE(test::all_close(again, conv2d(x, w, Tensor(), stride, 1), 0, 0)) << "a hit must give the same bits";
    add_(w, w);  // an in-place op bumps the version: the weight doubles
    expect_matches(w, stride, "after add_");
    w.data<float>()[5] += 3.0f;  // a write through the pointer, announced
    w.mark_modified();
    expect_matches(w, stride, "after a write and mark_modified");
    for (uint64_t seed : {23, 24}) {  // other storages of the same shape, possibly at a recycled address
      const Tensor other = test::random_tensor({16, 8, 3, 3}, seed, DType::Float32);
      expect_matches(other, stride, "another weight of the same shape");
    }
    Tensor view = w.detach();  // a view of the same storage sees the same version counter
    add_(view, w);
    expect_matches(w, stride, "after a write through another view");
  }
  // The input gradient packs the turned (stride 1) and the transposed (stride 2) filter: cached too.
  // (A fresh weight: the one above has doubled four times, and the tolerance assumes |w| <= 1.)
  for (int64_t stride : {1, 2}) {
    w = test::random_tensor({16, 8, 3, 3}, 26, DType::Float32);
    Tensor xg = x.detach();
    xg.requires_grad_();
    const Tensor y = conv2d(xg, w, Tensor(), stride, 1);
    const Tensor dy = test::random_tensor(y.shape(), 25, DType::Float32);
    for (int round = 0; round < 2; ++round) {
      if (round == 1) add_(w, w);
      xg.zero_grad();
      conv2d(xg, w, Tensor(), stride, 1).backward(dy);
      LB_EXPECT_CLOSE(xg.grad(), ref::conv2d_backward_input(dy, w, x.shape(), stride, 1), 2e-5, 2e-5)
          << "stride " << stride << " round " << round;
    }
  }
}

// ---- backward -----------------------------------------------------------------------------------

TEST(Conv2dBackward, HandComputed2x2Kernel) {
  // dy = ones (2x2). dW[r][s] sums the 2x2 block of x starting at (r, s): 1+2+4+5 = 12, ...
  // dx[h][w] sums the kernel taps that touch (h, w): the centre pixel sees all four (10).
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3}, DType::Float64).requires_grad_();
  Tensor w = Tensor::from_vector({1, 2, 3, 4}, {1, 1, 2, 2}, DType::Float64).requires_grad_();
  Tensor b = Tensor::from_vector({0.5}, {1}, DType::Float64).requires_grad_();
  conv2d(x, w, b).backward(Tensor::ones({1, 1, 2, 2}, DType::Float64));
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{12, 16, 24, 28}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{1, 3, 2, 4, 10, 6, 3, 7, 4}));
  EXPECT_EQ(b.grad().to_vector(), (std::vector<double>{4}));
}

class Conv2dBackward : public testing::TestWithParam<ConvCase> {};

// Runs backward with a random dy and compares dx, dW (and db) with the oracle's.
void check_backward(const ConvCase& c, DType dt, double atol, double rtol) {
  const ConvInputs in = make_inputs(c, dt, true);
  Tensor y = conv2d(in.x, in.w, in.b, c.stride, c.pad);
  Tensor dy = test::random_tensor(y.shape(), 14, dt);
  std::vector<Tensor> wrt = {in.x, in.w};
  if (c.bias) wrt.push_back(in.b);
  const std::vector<Tensor> g = autograd::grad({y}, wrt, {dy});
  LB_EXPECT_CLOSE(g[0], ref::conv2d_backward_input(dy, in.w, in.x.shape(), c.stride, c.pad), atol, rtol);
  LB_EXPECT_CLOSE(g[1], ref::conv2d_backward_weight(in.x, dy, in.w.shape(), c.stride, c.pad), atol, rtol);
  if (c.bias) {
    LB_EXPECT_CLOSE(g[2], ref::conv2d_backward_bias(dy), atol, rtol);
  }
}

TEST_P(Conv2dBackward, Float64MatchesReference) {
  // Summation order only (dW sums N*P*Q <= 1024 products per entry): far below 1e-12.
  check_backward(GetParam(), DType::Float64, 1e-12, 1e-12);
}

TEST_P(Conv2dBackward, Float32MatchesReference) {
  // dW entries sum up to N*P*Q = 1024 float32 products of magnitude <= 1 (|dW| up to ~30), dx
  // entries up to K*R*S = 576: rounding ~ sqrt(terms) * 6e-8 * |sum|, so 5e-5 (absolute plus
  // relative) leaves margin; the measured worst is about 1e-5 (the 1024-term dW).
  check_backward(GetParam(), DType::Float32, 5e-5, 5e-5);
}

INSTANTIATE_TEST_SUITE_P(ResNet18Shapes, Conv2dBackward, testing::ValuesIn(kCases), case_name);

TEST(Conv2dBackward, ConstantInputGetsOnlyWeightGrad) {
  // The first layer: the image needs no gradient, the weight does.
  const ConvCase c = kCases[0];
  ConvInputs in = make_inputs(c, DType::Float64, false);
  in.w.requires_grad_();
  Tensor y = conv2d(in.x, in.w, in.b, c.stride, c.pad);
  Tensor dy = test::random_tensor(y.shape(), 15);
  y.backward(dy);
  EXPECT_FALSE(in.x.grad().defined());
  // Same summation-order argument as Float64MatchesReference.
  LB_EXPECT_CLOSE(in.w.grad(), ref::conv2d_backward_weight(in.x, dy, in.w.shape(), c.stride, c.pad), 1e-12, 1e-12);
}

TEST(Conv2dBackward, FrozenWeightStillPassesInputGrad) {
  // A frozen layer inside a network: no dW, but dx must still flow to the layers below.
  const ConvCase c = kCases[3];
  ConvInputs in = make_inputs(c, DType::Float64, false);
  in.x.requires_grad_();
  Tensor y = conv2d(in.x, in.w, in.b, c.stride, c.pad);
  Tensor dy = test::random_tensor(y.shape(), 16);
  y.backward(dy);
  EXPECT_FALSE(in.w.grad().defined());
  LB_EXPECT_CLOSE(in.x.grad(), ref::conv2d_backward_input(dy, in.w, in.x.shape(), c.stride, c.pad), 1e-12, 1e-12);
}

TEST(Conv2dBackward, GradientsAccumulateAcrossBackwardCalls) {
  // Accumulation rule: a second backward adds to .grad. Doubling is exact in floating point.
  const ConvCase c = kCases[2];
  const ConvInputs in = make_inputs(c, DType::Float64, true);
  Tensor dy = test::random_tensor(out_shape(c), 17);
  conv2d(in.x, in.w, in.b, c.stride, c.pad).backward(dy);
  const std::vector<double> once = in.w.grad().to_vector();
  conv2d(in.x, in.w, in.b, c.stride, c.pad).backward(dy);
  const std::vector<double> twice = in.w.grad().to_vector();
  for (size_t i = 0; i < once.size(); ++i) ASSERT_EQ(twice[i], 2 * once[i]) << "element " << i;
}

TEST(Conv2dBackward, WeightGradIsDeterministic) {
  // Per-thread partial sums are added in thread order, so reruns give identical bits.
  const ConvCase c = kCases[14];  // large enough to run on every thread
  const ConvInputs in = make_inputs(c, DType::Float32, true);
  Tensor dy = test::random_tensor(out_shape(c), 18, DType::Float32);
  Tensor y = conv2d(in.x, in.w, in.b, c.stride, c.pad);
  const std::vector<double> first = autograd::grad({y}, {in.w}, {dy}, /*retain_graph=*/true)[0].to_vector();
  const std::vector<double> second = autograd::grad({y}, {in.w}, {dy})[0].to_vector();
  EXPECT_EQ(first, second);
}

TEST(Conv2dBackward, NodeDescribesItself) {
  Tensor x = test::random_tensor({1, 1, 8, 8}, 19);
  Tensor w = test::random_tensor({2, 1, 7, 7}, 20).requires_grad_();
  Tensor y = conv2d(x, w, Tensor(), 2, 3);
  ASSERT_NE(y.grad_fn(), nullptr);
  EXPECT_STREQ(y.grad_fn()->kind(), "conv2d");
  EXPECT_EQ(y.grad_fn()->describe(), "stride=2 pad=3");
}

TEST(Conv2dBackward, InPlaceWriteToSavedInputIsCaught) {
  // dW needs x as it was in the forward; writing x in place afterwards must not go unnoticed.
  Tensor x0 = test::random_tensor({1, 2, 4, 4}, 21).requires_grad_();
  Tensor w = test::random_tensor({3, 2, 3, 3}, 22).requires_grad_();
  Tensor x = scale(x0, 1.0);
  Tensor y = conv2d(x, w, Tensor(), 1, 1);
  relu_(x);
  try {
    y.backward(Tensor::ones(y.shape(), DType::Float64));
    FAIL() << "backward through a modified saved input must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv2d"), std::string::npos) << e.what();
  }
}

// ---- finite differences -------------------------------------------------------------------------

// conv2d is bilinear in (x, W) and linear in b, so central differences carry no truncation error:
// only float64 rounding of the projected sum (~1e-10 / eps-scale) remains, inside gradcheck's
// default atol 1e-6 / rtol 1e-5.
void expect_gradcheck(const Shape& xs, const Shape& ws, bool bias, int64_t stride, int64_t pad) {
  Tensor x = test::random_tensor(xs, 31).requires_grad_();
  Tensor w = test::random_tensor(ws, 32).requires_grad_();
  Tensor b = bias ? test::random_tensor({ws[0]}, 33).requires_grad_() : Tensor();
  auto f = [stride, pad](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], stride, pad); };
  EXPECT_TRUE(test::gradcheck(f, {x, w, b}));
}

TEST(Conv2dFiniteDiff, Stem7x7Stride2Pad3) { expect_gradcheck({1, 1, 6, 6}, {2, 1, 7, 7}, false, 2, 3); }
TEST(Conv2dFiniteDiff, Block3x3Stride1Pad1) { expect_gradcheck({2, 2, 4, 3}, {3, 2, 3, 3}, true, 1, 1); }
TEST(Conv2dFiniteDiff, Block3x3Stride2Pad1) { expect_gradcheck({2, 2, 5, 4}, {3, 2, 3, 3}, true, 2, 1); }
TEST(Conv2dFiniteDiff, Downsample1x1Stride2) { expect_gradcheck({2, 3, 5, 5}, {2, 3, 1, 1}, true, 2, 0); }
TEST(Conv2dFiniteDiff, Pointwise1x1Stride1) { expect_gradcheck({2, 3, 3, 2}, {2, 3, 1, 1}, false, 1, 0); }
TEST(Conv2dFiniteDiff, OneByOneMapsGroupedInOneGemm) { expect_gradcheck({3, 2, 1, 1}, {2, 2, 3, 3}, true, 1, 1); }
TEST(Conv2dFiniteDiff, RectangularKernel) { expect_gradcheck({1, 2, 5, 4}, {2, 2, 2, 3}, true, 1, 0); }

// ---- errors -------------------------------------------------------------------------------------

// Runs f, expects lb::Error, and checks the message names the op and contains `fragment`.
void expect_conv_error(const std::function<void()>& f, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "expected lb::Error mentioning \"" << fragment << "\"";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind("conv2d", 0), 0u) << msg;
    EXPECT_NE(msg.find(fragment), std::string::npos) << msg;
  }
}

Tensor t64(const Shape& s) { return Tensor::zeros(s, DType::Float64); }

TEST(Conv2dErrors, InputMustBe4D) {
  expect_conv_error([] { conv2d(t64({3, 8, 8}), t64({4, 3, 3, 3}), Tensor()); }, "input must be 4-D");
}

TEST(Conv2dErrors, WeightMustBe4D) {
  expect_conv_error([] { conv2d(t64({1, 3, 8, 8}), t64({4, 27}), Tensor()); }, "weight must be 4-D");
}

TEST(Conv2dErrors, ChannelMismatch) {
  expect_conv_error(
      [] {
        conv2d(t64({1, 3, 8, 8}), t64({4, 1, 3, 3}), Tensor());
      },
      "input has 3 channels but weight expects 1; input [1, 3, 8, 8], weight [4, 1, 3, 3]");
}

TEST(Conv2dErrors, DtypeMismatch) {
  expect_conv_error(
      [] {
        conv2d(Tensor::zeros({1, 1, 4, 4}), t64({1, 1, 3, 3}), Tensor());
      },
      "got input float32, weight float64");
  expect_conv_error([] { conv2d(t64({1, 1, 4, 4}), t64({2, 1, 3, 3}), Tensor::zeros({2})); }, "bias float32");
}

TEST(Conv2dErrors, IntegerTensors) {
  const Tensor x = Tensor::zeros({1, 1, 4, 4}, DType::Int64), w = Tensor::zeros({1, 1, 3, 3}, DType::Int64);
  expect_conv_error([&] { conv2d(x, w, Tensor()); }, "expected float32 or float64");
}

TEST(Conv2dErrors, BiasShape) {
  expect_conv_error([] { conv2d(t64({1, 1, 4, 4}), t64({2, 1, 3, 3}), t64({3})); }, "one entry per output channel (2)");
  expect_conv_error([] { conv2d(t64({1, 1, 4, 4}), t64({2, 1, 3, 3}), t64({2, 1})); }, "bias [2, 1]");
}

TEST(Conv2dErrors, KernelLargerThanInput) {
  expect_conv_error([] { conv2d(t64({1, 1, 2, 2}), t64({1, 1, 3, 3}), Tensor()); }, "does not fit the input");
  // The stem's 7x7 kernel on a 1x1 map: pad 3 makes it fit exactly once.
  EXPECT_EQ(conv2d(t64({1, 1, 1, 1}), t64({1, 1, 7, 7}), Tensor(), 2, 3).shape(), (Shape{1, 1, 1, 1}));
}

TEST(Conv2dErrors, StrideAndPadding) {
  expect_conv_error([] { conv2d(t64({1, 1, 4, 4}), t64({1, 1, 3, 3}), Tensor(), 0, 0); }, "stride=0");
  expect_conv_error([] { conv2d(t64({1, 1, 4, 4}), t64({1, 1, 3, 3}), Tensor(), 1, -1); }, "pad=-1");
}

TEST(Conv2dErrors, UndefinedWeight) {
  expect_conv_error([] { conv2d(t64({1, 1, 4, 4}), Tensor(), Tensor()); }, "must be defined");
}

TEST(Conv2dErrors, MixedDevicesAndCudaFloat64NameTheFix) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: a CUDA tensor cannot be made";
  Tensor x = Tensor::zeros({1, 1, 4, 4}, DType::Float32, Device::cuda());
  Tensor w = Tensor::zeros({1, 1, 3, 3}, DType::Float32);
  expect_conv_error([&] { conv2d(x, w, Tensor()); }, "must be on one device");
  Tensor x64 = Tensor::zeros({1, 1, 4, 4}, DType::Float64, Device::cuda());
  Tensor w64 = Tensor::zeros({1, 1, 3, 3}, DType::Float64, Device::cuda());
  expect_conv_error([&] { conv2d(x64, w64, Tensor()); }, "CUDA kernels take float32");
}

}  // namespace
}  // namespace lb
