// test_winograd.cc: the Winograd convolution (engine/cpu/winograd.h), F(2x2, 3x3) and F(4x4, 3x3),
// forward and both backward directions: hand-computed cases, the naive double oracle
// (tests/reference/conv2d_ref) over every 3x3 stride-1 shape class of ResNet18 on 28x28 inputs and
// odd sizes, the direct im2col path (cpu::conv2d_*) on full-width layers, determinism of the
// weight gradient, and the shapes it refuses.
//
// Error bounds. Inputs are uniform in [-1, 1); u = 2^-24 is float32's unit roundoff. Expanded, one
// Winograd output is a sum of products over channels c and positions xi = (r, s):
//   y = sum_c sum_xi A^T[i][r] A^T[j][s] * (G g_c G^T)[xi] * (B^T d_c B)[xi]
// 1. Worst case, element by element (Higham, "Accuracy and Stability of Numerical Algorithms",
//    2002, section 3.1: a float32 sum of n products is off by at most gamma_n = n*u / (1 - n*u)
//    times the sum of the products' magnitudes). Every term passes through the filter transform
//    (two passes of at most 3 terms, the coefficients 1/6, 1/12, 1/24 themselves rounded: 8
//    roundings), the input transform (two passes of at most 4 terms: 8), the GEMM's sum over C
//    (C), the output transform (two passes of at most 5 terms: 10) and the bias (1): n = C + 27.
//    With |d|, |g| <= 1 the magnitudes sum to at most C * kappa, kappa the same sum on the
//    matrices' absolute values (64 for F(2x2), 2304 for F(4x4), 9 for the direct method):
//      |y - y_exact| <= gamma_{C+27} * (C * kappa + |b|).
//    The weight gradient is the same sum with dy in place of g and the batch's tiles in place of
//    the channels: dM = A dy A^T (8 roundings), V (8), the sum over the tiles, G^T dU G (12):
//      |dw - dw_exact| <= gamma_{tiles+28} * tiles * kappa_w  (36 for F(2x2), 2844 for F(4x4)).
// 2. Typical, over the whole tensor: the roundings are independent and average out, so the
//    relative L2 error is about u * sqrt(n * kappa2), kappa2 the ratio of the summed squares of
//    the terms to the square of the result, averaged over the inputs (for the direct method 1;
//    25/9 for F(2x2), 116 for F(4x4), forward and weight gradient alike). Each rounding is at most
//    u where its RMS is u/sqrt(3), so this overestimates: the measured errors sit 2.8x to 60x
//    below it (closest on the threaded 4x4 and 7x7 cases, farthest on 1x1 maps, which are mostly
//    padding).
// Bound 1 is rigorous but loose (measured errors are 500-10000x below it); bound 2 is the sharp
// one. A wrong coefficient, tap or tile edge gives relative errors of 1e-2 or more, far above both.
// Measured relative L2 errors against the oracle: F(2x2) 0.3e-7 to 2.8e-7, as the direct path
// (0.9e-7 to 2.3e-7); F(4x4) 0.6e-7 to 2.2e-6, growing with C (2.7e-6 at C = 128).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "base/common.h"
#include "engine/cpu/conv2d.h"
#include "engine/cpu/winograd.h"
#include "tests/reference/conv2d_ref.h"
#include "tests/support/check.h"

namespace lb::cpu {
namespace {

constexpr double kU = 1.0 / (1 << 24);  // float32 unit roundoff

double gamma_n(double n) { return n * kU / (1.0 - n * kU); }

// The amplification factors of the file header, computed from the matrices. For a tile position
// xi = (r, s) with weights wf[r] * wf[s] on the way in and wo[r] * wo[s] on the way out, summed
// over xi and taken at the worst output (p = 1, "kappa") or averaged over outputs and divided by
// the direct method's (p = 2, "kappa2"):
//   forward        in: |B^T| and |G| row sums (p = 1), their squares' sums (p = 2); out: A^T
//   weight grad    in: A (= (A^T)^T) and B^T rows; out: G^T
struct Amplification {
  double kappa, kappa2;
};

// M (rows, cols) row-major; its rows' sums of |M|^p.
std::vector<double> row_norms(const float* M, int rows, int cols, int p) {
  std::vector<double> out(rows, 0.0);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) out[i] += std::pow(std::fabs(double(M[i * cols + j])), p);
  return out;
}

// wi (a): the per-position input weight; O (outs, a) read as O[o*os + r*rs]: the output map.
Amplification amplification(const std::vector<double>& wi1, const std::vector<double>& wi2, const float* O, int outs,
                            int a, int os, int rs, double direct_rms2) {
  Amplification am{0.0, 0.0};
  for (int i = 0; i < outs; ++i)
    for (int j = 0; j < outs; ++j) {
      double s1 = 0.0, s2 = 0.0;
      for (int r = 0; r < a; ++r)
        for (int q = 0; q < a; ++q) {
          const double o = std::fabs(double(O[i * os + r * rs]) * O[j * os + q * rs]);
          s1 += o * wi1[r] * wi1[q];
          s2 += o * o * wi2[r] * wi2[q];
        }
      am.kappa = std::max(am.kappa, s1);
      am.kappa2 += s2 / (outs * outs) / direct_rms2;
    }
  return am;
}

Amplification forward_amplification(WinogradTile t) {
  const WinogradMatrices mt = winograd_matrices(t);
  const std::vector<double> b1 = row_norms(mt.BT, mt.a, mt.a, 1), g1 = row_norms(mt.G, mt.a, 3, 1);
  const std::vector<double> b2 = row_norms(mt.BT, mt.a, mt.a, 2), g2 = row_norms(mt.G, mt.a, 3, 2);
  std::vector<double> w1(mt.a), w2(mt.a);
  for (int r = 0; r < mt.a; ++r) {
    w1[r] = b1[r] * g1[r];
    // w2[r] * w2[q] = E[v_xi^2] E[u_xi^2]: the two 1/3 are E[d^2] and E[g^2] for uniform [-1, 1).
    w2[r] = b2[r] * g2[r] / 3.0;
  }
  // The direct method: 9 products per channel of E[x^2 w^2] = 1/9 each.
  return amplification(w1, w2, mt.AT, mt.m, mt.a, mt.a, 1, 9.0 / 9.0);
}

Amplification weight_amplification(WinogradTile t) {
  const WinogradMatrices mt = winograd_matrices(t);
  // A = (A^T)^T: row r of A is column r of A^T.
  std::vector<double> a1(mt.a, 0.0), a2(mt.a, 0.0);
  for (int r = 0; r < mt.a; ++r)
    for (int i = 0; i < mt.m; ++i) {
      a1[r] += std::fabs(mt.AT[i * mt.a + r]);
      a2[r] += double(mt.AT[i * mt.a + r]) * mt.AT[i * mt.a + r];
    }
  const std::vector<double> b1 = row_norms(mt.BT, mt.a, mt.a, 1), b2 = row_norms(mt.BT, mt.a, mt.a, 2);
  std::vector<double> w1(mt.a), w2(mt.a);
  for (int r = 0; r < mt.a; ++r) {
    w1[r] = a1[r] * b1[r];
    w2[r] = a2[r] * b2[r] / 3.0;
  }
  // Out through G^T (3, a): element (i, r) is G[r][i]. The direct method: m*m products per tile.
  return amplification(w1, w2, mt.G, 3, mt.a, 1, 3, mt.m * mt.m / 9.0);
}

int64_t tile_m(WinogradTile t) { return t == WinogradTile::F4x4 ? 4 : 2; }

// Bound 1 (element-wise, worst case) and bound 2 (relative L2) of the file header.
double forward_bound(WinogradTile t, int64_t channels) {
  return gamma_n(double(channels) + 27) * (double(channels) * forward_amplification(t).kappa + 1.0);
}
double forward_rel_bound(WinogradTile t, int64_t channels) {
  return kU * std::sqrt((double(channels) + 27) * forward_amplification(t).kappa2);
}
double weight_bound(WinogradTile t, int64_t tiles) {
  return gamma_n(double(tiles) + 28) * double(tiles) * weight_amplification(t).kappa;
}
double weight_rel_bound(WinogradTile t, int64_t tiles) {
  return kU * std::sqrt((double(tiles) + 28) * weight_amplification(t).kappa2);
}

struct WinoCase {
  const char* name;
  int64_t N, C, H, W, K;
  bool bias;
};

// ResNet18 on 28x28 inputs runs its 3x3 stride-1 convs on 7x7 (layer1), 4x4 (layer2), 2x2
// (layer3) and 1x1 (layer4) maps; channels are shrunk so the oracle stays fast. The odd sizes
// leave partial tiles on one side or both (5x9: 3x5 F(2x2) tiles, 2x3 F(4x4) tiles). The last
// four are past the threading threshold (2^20 multiply-adds), so they run several chunks on
// several threads, with chunks that split an image (5x9) and a short last chunk.
const WinoCase kCases[] = {
    {"layer1_7x7", 3, 8, 7, 7, 8, true},
    {"layer2_4x4", 3, 8, 4, 4, 16, false},
    {"layer3_2x2", 3, 16, 2, 2, 8, true},
    {"layer4_1x1", 3, 16, 1, 1, 8, false},
    {"odd_5x9_batch1", 1, 3, 5, 9, 5, true},
    {"odd_3x3_batch3", 3, 5, 3, 3, 4, false},
    {"odd_1x7_batch3", 3, 4, 1, 7, 3, true},
    {"single_channel_6x6", 2, 1, 6, 6, 1, true},
    {"threaded_layer1_7x7", 8, 32, 7, 7, 32, false},
    {"threaded_layer2_4x4", 32, 32, 4, 4, 32, true},
    {"threaded_odd_5x9_split_images", 48, 8, 5, 9, 8, true},
    {"threaded_many_chunks_7x7", 127, 8, 7, 7, 8, false},
};

const WinogradTile kTiles[] = {WinogradTile::F2x2, WinogradTile::F4x4};

Conv2dArgs args_of(const WinoCase& c) { return {c.N, c.C, c.H, c.W, c.K, 3, 3, 1, 1, c.H, c.W}; }

int64_t tiles_of(const WinoCase& c, WinogradTile t) {
  const int64_t m = tile_m(t);
  return c.N * ((c.H + m - 1) / m) * ((c.W + m - 1) / m);
}

struct Inputs {
  Tensor x, w, b, dy;  // (N, C, H, W), (K, C, 3, 3), (K) or undefined, (N, K, H, W); float32
};

Inputs make_inputs(const WinoCase& c) {
  Inputs in;
  in.x = test::random_tensor({c.N, c.C, c.H, c.W}, 31, DType::Float32);
  in.w = test::random_tensor({c.K, c.C, 3, 3}, 32, DType::Float32);
  if (c.bias) in.b = test::random_tensor({c.K}, 33, DType::Float32);
  in.dy = test::random_tensor({c.N, c.K, c.H, c.W}, 34, DType::Float32);
  return in;
}

const float* ptr(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

std::string param_name(const testing::TestParamInfo<std::tuple<WinoCase, WinogradTile>>& info) {
  return std::string(std::get<0>(info.param).name) + (std::get<1>(info.param) == WinogradTile::F4x4 ? "_F4" : "_F2");
}

class WinogradVsOracle : public testing::TestWithParam<std::tuple<WinoCase, WinogradTile>> {};

TEST_P(WinogradVsOracle, Forward) {
  const auto [c, tile] = GetParam();
  const Inputs in = make_inputs(c);
  Tensor y = Tensor::full({c.N, c.K, c.H, c.W}, NAN);  // every element must be overwritten
  winograd_conv2d_forward(args_of(c), ptr(in.x), ptr(in.w), ptr(in.b), y.data<float>(), tile);
  const Tensor want = ref::conv2d_forward(in.x, in.w, in.b, 1, 1);
  LB_EXPECT_CLOSE(y, want, forward_bound(tile, c.C), 0.0);  // header: bounds 1 and 2, a sum over C
  LB_EXPECT_REL(y, want, forward_rel_bound(tile, c.C));
}

TEST_P(WinogradVsOracle, BackwardInput) {
  const auto [c, tile] = GetParam();
  const Inputs in = make_inputs(c);
  Tensor dx = Tensor::full({c.N, c.C, c.H, c.W}, NAN);
  winograd_conv2d_backward_input(args_of(c), ptr(in.dy), ptr(in.w), dx.data<float>(), tile);
  // A forward convolution over the K channels of dy: the forward's bounds with K for C.
  const Tensor want = ref::conv2d_backward_input(in.dy, in.w, in.x.shape(), 1, 1);
  LB_EXPECT_CLOSE(dx, want, forward_bound(tile, c.K), 0.0);
  LB_EXPECT_REL(dx, want, forward_rel_bound(tile, c.K));
}

TEST_P(WinogradVsOracle, BackwardWeight) {
  const auto [c, tile] = GetParam();
  const Inputs in = make_inputs(c);
  Tensor dw = Tensor::full({c.K, c.C, 3, 3}, NAN);
  winograd_conv2d_backward_weight(args_of(c), ptr(in.x), ptr(in.dy), dw.data<float>(), tile);
  const Tensor want = ref::conv2d_backward_weight(in.x, in.dy, in.w.shape(), 1, 1);
  const int64_t tiles = tiles_of(c, tile);  // header: bounds 1 and 2, a sum over the batch's tiles
  LB_EXPECT_CLOSE(dw, want, weight_bound(tile, tiles), 0.0);
  LB_EXPECT_REL(dw, want, weight_rel_bound(tile, tiles));
}

INSTANTIATE_TEST_SUITE_P(ResNet18Shapes, WinogradVsOracle,
                         testing::Combine(testing::ValuesIn(kCases), testing::ValuesIn(kTiles)), param_name);

// ---- hand-computed ------------------------------------------------------------------------------

TEST(Winograd, HandComputedOnesCountTheTapsInsideTheImage) {
  // x and w all ones, 3x3 image, pad 1: each output counts the taps that land in the image:
  // 4 at the corners, 6 on the edges, 9 in the centre (+ bias 0.5). dx counts the same way, and
  // dw[r][s] (dy all ones) counts the pixels tap (r, s) reads: 4, 6, 4 / 6, 9, 6 / 4, 6, 4.
  // F(2x2)'s matrices hold only 0, +-1 and +-1/2: exact on small integers. F(4x4)'s 1/6 and 1/24
  // round; the bound of the file header with C = 1 is below 2e-4 (forward), 4e-3 (weight, 1 tile).
  const Conv2dArgs a{1, 1, 3, 3, 1, 3, 3, 1, 1, 3, 3};
  const std::vector<float> ones(9, 1.0f), bias{0.5f};
  const std::vector<double> y_want{4.5, 6.5, 4.5, 6.5, 9.5, 6.5, 4.5, 6.5, 4.5};
  const std::vector<double> dw_want{4, 6, 4, 6, 9, 6, 4, 6, 4};
  for (WinogradTile t : kTiles) {
    std::vector<float> y(9), dx(9), dw(9);
    winograd_conv2d_forward(a, ones.data(), ones.data(), bias.data(), y.data(), t);
    winograd_conv2d_backward_input(a, ones.data(), ones.data(), dx.data(), t);
    winograd_conv2d_backward_weight(a, ones.data(), ones.data(), dw.data(), t);
    const double tol_y = t == WinogradTile::F2x2 ? 0.0 : forward_bound(t, 1);
    const double tol_w = t == WinogradTile::F2x2 ? 0.0 : weight_bound(t, 1);
    for (int i = 0; i < 9; ++i) {
      EXPECT_NEAR(y[i], y_want[i], tol_y) << winograd_tile_name(t) << " y " << i;
      EXPECT_NEAR(dx[i], y_want[i] - 0.5, tol_y) << winograd_tile_name(t) << " dx " << i;
      EXPECT_NEAR(dw[i], dw_want[i], tol_w) << winograd_tile_name(t) << " dw " << i;
    }
  }
}

TEST(Winograd, MatricesReproduceOneDimensionalCorrelation) {
  // The 1-D identity the 2-D method nests: y = A^T [(G g) (.) (B^T d)] equals the correlation
  // y[i] = sum_r d[i + r] g[r], checked in double on integer d and g (exact up to G's roundings).
  for (WinogradTile t : kTiles) {
    const WinogradMatrices mt = winograd_matrices(t);
    std::vector<double> d(mt.a), g{1, -2, 3};
    for (int i = 0; i < mt.a; ++i) d[i] = i * i - 3;
    for (int i = 0; i < mt.m; ++i) {
      double y = 0.0;
      for (int xi = 0; xi < mt.a; ++xi) {
        double u = 0.0, v = 0.0;
        for (int r = 0; r < 3; ++r) u += mt.G[xi * 3 + r] * g[r];
        for (int j = 0; j < mt.a; ++j) v += mt.BT[xi * mt.a + j] * d[j];
        y += mt.AT[i * mt.a + xi] * u * v;
      }
      const double want = d[i] * g[0] + d[i + 1] * g[1] + d[i + 2] * g[2];
      // G's 1/6, 1/12, 1/24 are float32 (relative error <= 2^-24) and the terms reach ~1e3: the
      // identity holds to ~1e-4; a wrong coefficient misses by 1 or more on these integers.
      EXPECT_NEAR(y, want, 1e-3) << winograd_tile_name(t) << " output " << i;
    }
  }
}

// ---- against the direct (im2col + GEMM) path -----------------------------------------------------

// Winograd against cpu::conv2d_* on the same float32 inputs: both carry rounding error, so they may
// differ by the sum of their bounds. The direct method's are gamma_{9C+1} * (9C + |b|) (bound 1)
// and u * sqrt(9C + 1) (bound 2, kappa2 = 1) for y; for dw a sum over the N*P*Q pixels instead.
void expect_matches_direct(const WinoCase& c, WinogradTile t) {
  const Conv2dArgs a = args_of(c);
  const Inputs in = make_inputs(c);
  const Shape ys{c.N, c.K, c.H, c.W}, xs{c.N, c.C, c.H, c.W}, ws{c.K, c.C, 3, 3};
  Tensor y = Tensor::empty(ys), dx = Tensor::empty(xs), dw = Tensor::empty(ws);
  Tensor y_d = Tensor::empty(ys), dx_d = Tensor::empty(xs), dw_d = Tensor::empty(ws);
  conv2d_forward<float>(a, ptr(in.x), ptr(in.w), ptr(in.b), y_d.data<float>());
  conv2d_backward_input<float>(a, ptr(in.dy), ptr(in.w), dx_d.data<float>());
  conv2d_backward_weight<float>(a, ptr(in.x), ptr(in.dy), dw_d.data<float>());
  winograd_conv2d_forward(a, ptr(in.x), ptr(in.w), ptr(in.b), y.data<float>(), t);
  winograd_conv2d_backward_input(a, ptr(in.dy), ptr(in.w), dx.data<float>(), t);
  winograd_conv2d_backward_weight(a, ptr(in.x), ptr(in.dy), dw.data<float>(), t);
  const double pixels = double(c.N * c.H * c.W);
  const double fwd = forward_bound(t, c.C) + gamma_n(9.0 * c.C + 1) * (9.0 * c.C + 1);  // |b| < 1
  const double bwd = forward_bound(t, c.K) + gamma_n(9.0 * c.K + 1) * (9.0 * c.K);
  const double wgt = weight_bound(t, tiles_of(c, t)) + gamma_n(pixels) * pixels;
  LB_EXPECT_CLOSE(y, y_d, fwd, 0.0);
  LB_EXPECT_CLOSE(dx, dx_d, bwd, 0.0);
  LB_EXPECT_CLOSE(dw, dw_d, wgt, 0.0);
  LB_EXPECT_REL(y, y_d, forward_rel_bound(t, c.C) + kU * std::sqrt(9.0 * c.C + 1));
  LB_EXPECT_REL(dx, dx_d, forward_rel_bound(t, c.K) + kU * std::sqrt(9.0 * c.K + 1));
  LB_EXPECT_REL(dw, dw_d, weight_rel_bound(t, tiles_of(c, t)) + kU * std::sqrt(pixels));
}

TEST(Winograd, MatchesDirectPathOnFullWidthLayer1) {
  // Layer1 of a 28x28 input at full width: 64 -> 64 channels on 7x7 maps, 4 images.
  for (WinogradTile t : kTiles) expect_matches_direct({"layer1_full_width", 4, 64, 7, 7, 64, true}, t);
}

TEST(Winograd, MatchesDirectPathOnWideLayer) {
  // 384 -> 384 channels: the weight gradient's chunks widen to 128 tiles (weight_grad_width); 16
  // images of 7x7 maps give F(2x2) 256 tiles, two such chunks.
  for (WinogradTile t : kTiles) expect_matches_direct({"wide_384", 16, 384, 7, 7, 384, false}, t);
}

// ---- determinism and refusals -------------------------------------------------------------------

TEST(Winograd, WeightGradIsDeterministic) {
  // Per-thread partial sums are added in thread order over fixed slices: reruns give the same bits.
  const WinoCase c = kCases[11];  // several chunks on every thread
  const Inputs in = make_inputs(c);
  for (WinogradTile t : kTiles) {
    std::vector<float> first(c.K * c.C * 9), second(c.K * c.C * 9);
    winograd_conv2d_backward_weight(args_of(c), ptr(in.x), ptr(in.dy), first.data(), t);
    winograd_conv2d_backward_weight(args_of(c), ptr(in.x), ptr(in.dy), second.data(), t);
    EXPECT_EQ(first, second) << winograd_tile_name(t);
  }
}

TEST(Winograd, SupportsOnlyFloat3x3Stride1Pad1) {
  const Conv2dArgs ok{2, 3, 7, 7, 4, 3, 3, 1, 1, 7, 7};
  EXPECT_TRUE(winograd_supported(ok));
  Conv2dArgs stride2 = ok;
  stride2.stride = 2;
  stride2.P = stride2.Q = 4;
  Conv2dArgs pad0 = ok;
  pad0.pad = 0;
  pad0.P = pad0.Q = 5;
  const Conv2dArgs pointwise{2, 3, 7, 7, 4, 1, 1, 1, 0, 7, 7};
  const Conv2dArgs wide{2, 3, 7, 7, 4, 3, 5, 1, 1, 7, 5};
  Conv2dArgs bf16 = ok;
  bf16.bf16 = true;
  for (const Conv2dArgs& a : {stride2, pad0, pointwise, wide, bf16}) EXPECT_FALSE(winograd_supported(a));
  std::vector<float> buf(1024);
  test::expect_error([&] { winograd_conv2d_forward(stride2, buf.data(), buf.data(), nullptr, buf.data()); },
                     {"winograd_conv2d_forward", "stride 2"});
  test::expect_error([&] { winograd_conv2d_backward_input(bf16, buf.data(), buf.data(), buf.data()); },
                     {"winograd_conv2d_backward_input", "bf16"});
  test::expect_error([&] { winograd_conv2d_backward_weight(pointwise, buf.data(), buf.data(), buf.data()); },
                     {"winograd_conv2d_backward_weight", "w (4, 3, 1, 1)"});
}

}  // namespace
}  // namespace lb::cpu
