// The brute-force Shapley oracle and the shared attribution helpers, against closed forms.
#include <gtest/gtest.h>

#include <cmath>

#include "explain/exact.h"
#include "tests/support/check.h"

namespace lb::explain {
namespace {
using test::expect_error;
using test::random_tensor;

// v(S) = sum_{i in S} a_i + c * [0 in S and 1 in S]: player i alone earns a_i, and the
// interaction c is split equally between players 0 and 1 (symmetry), so the Shapley values are
// a_0 + c/2, a_1 + c/2, a_2, ... exactly.
TEST(ExactShapley, AdditiveGamePlusPairInteraction) {
  const std::vector<double> a = {0.5, -1.25, 2.0, 0.75, -0.1};
  const double c = 3.0;
  GameFn v = [&](const std::vector<std::vector<uint8_t>>& masks) {
    std::vector<double> out;
    for (const auto& m : masks) {
      double s = 0;
      for (size_t i = 0; i < a.size(); ++i) s += m[i] * a[i];
      s += c * (m[0] && m[1]);
      out.push_back(s);
      out.push_back(-2 * s);  // second output: a scaled copy, so linearity in v is checked too
    }
    return out;
  };
  const auto phi = exact_shapley(5, 2, v, /*batch=*/7);
  for (int i = 0; i < 5; ++i) {
    const double want = a[i] + (i < 2 ? c / 2 : 0.0);
    EXPECT_NEAR(phi[i * 2], want, 1e-12) << "player " << i;
    EXPECT_NEAR(phi[i * 2 + 1], -2 * want, 1e-12) << "player " << i;
  }
}

// Efficiency: the values sum to v(all) - v(none) for any game (here a random table).
TEST(ExactShapley, EfficiencyOnARandomGame) {
  Generator gen(3);
  const int n = 6;
  std::vector<double> table(1 << n);
  for (double& t : table) t = gen.normal();
  GameFn v = [&](const std::vector<std::vector<uint8_t>>& masks) {
    std::vector<double> out;
    for (const auto& m : masks) {
      int idx = 0;
      for (int i = 0; i < n; ++i) idx |= m[i] << i;
      out.push_back(table[idx]);
    }
    return out;
  };
  const auto phi = exact_shapley(n, 1, v);
  double s = 0;
  for (double p : phi) s += p;
  EXPECT_NEAR(s, table[(1 << n) - 1] - table[0], 1e-12);
}

TEST(ExactShapley, RejectsTooManyPlayers) {
  GameFn v = [](const std::vector<std::vector<uint8_t>>& m) { return std::vector<double>(m.size(), 0.0); };
  expect_error([&] { exact_shapley(21, 1, v); }, {"21 players", "1..20"});
}

// The image game of a linear f(x) = w.x averaged over references has Shapley values
// sum over the group of w_e * (x_e - mean_b ref_b,e): the closed form DeepSHAP must reproduce.
TEST(ImageGame, LinearModelClosedForm) {
  const Tensor x = random_tensor({1, 1, 3, 3}, 1, DType::Float32);
  const Tensor refs = random_tensor({4, 1, 3, 3}, 2, DType::Float32);
  const std::vector<double> w = {0.3, -0.7, 1.1, 0.2, 0.0, -1.5, 0.9, 0.4, -0.2};
  BatchFn f = [&](const Tensor& b) {
    Tensor y = Tensor::empty({b.size(0), 1}, DType::Float64);
    for (int64_t n = 0; n < b.size(0); ++n) {
      double s = 0.25;
      for (int e = 0; e < 9; ++e) s += w[e] * b.data<float>()[n * 9 + e];
      y.data<double>()[n] = s;
    }
    return y;
  };
  const std::vector<std::vector<int64_t>> groups = {{0, 1}, {2}, {3, 4, 5}, {8}};  // 6, 7 stay at x
  ImageGame game = image_game(f, x, refs, groups);
  ASSERT_EQ(game.n, 4);
  ASSERT_EQ(game.K, 1);
  const auto phi = exact_shapley(game.n, game.K, game.fn);
  for (size_t g = 0; g < groups.size(); ++g) {
    double want = 0;
    for (int64_t e : groups[g]) {
      double mean_ref = 0;
      for (int b = 0; b < 4; ++b) mean_ref += refs.at(b * 9 + e) / 4;
      want += w[e] * (x.at(e) - mean_ref);
    }
    EXPECT_NEAR(phi[g], want, 1e-6) << "group " << g;
  }
  const Tensor spread = spread_over_groups(phi, 1, x.shape(), groups);
  EXPECT_NEAR(spread.at(3) + spread.at(4) + spread.at(5), phi[2], 1e-12);
  EXPECT_EQ(spread.at(6), 0.0);
}

TEST(ImageGame, RejectsOverlappingGroups) {
  const Tensor x = random_tensor({1, 1, 2, 2}, 1, DType::Float32);
  BatchFn f = [](const Tensor& b) { return Tensor::zeros({b.size(0), 1}); };
  expect_error([&] { image_game(f, x, x, {{0, 1}, {1}}); }, {"element 1", "two groups"});
}

TEST(Completeness, GapsPerImageAndOutput) {
  Tensor values = Tensor::zeros({2, 2, 1, 1, 2}, DType::Float64);
  for (int i = 0; i < 8; ++i) values.data<double>()[i] = i;  // sums: 1, 5, 9, 13
  const Tensor outputs = Tensor::from_vector({2, 6, 10, 20}, {2, 2}, DType::Float64);
  const Tensor expected = Tensor::from_vector({1, 1}, {2}, DType::Float64);
  const Tensor g = completeness_gaps(values, outputs, expected);
  EXPECT_DOUBLE_EQ(g.at(0), 0.0);
  EXPECT_DOUBLE_EQ(g.at(1), 0.0);
  EXPECT_DOUBLE_EQ(g.at(2), 0.0);
  EXPECT_DOUBLE_EQ(g.at(3), 6.0);
}

TEST(Upsampling, ChannelSumThenNearestBlocks) {
  Tensor v = Tensor::zeros({1, 1, 2, 2, 2}, DType::Float64);
  const double vals[] = {1, 2, 3, 4, 10, 20, 30, 40};  // channel sums 11, 22, 33, 44
  for (int i = 0; i < 8; ++i) v.data<double>()[i] = vals[i];
  const Tensor up = channel_sum_upsampled(v, 28, 28);
  EXPECT_EQ(up.shape(), (Shape{1, 1, 1, 28, 28}));
  EXPECT_EQ(up.at(0), 11.0);
  EXPECT_EQ(up.at(13), 11.0);
  EXPECT_EQ(up.at(14), 22.0);
  EXPECT_EQ(up.at(14 * 28), 33.0);
  EXPECT_EQ(up.at(27 * 28 + 27), 44.0);
  EXPECT_EQ(upsampling_label(2, 2, 28, 28), "2x2 -> 28x28, nearest");
}

}  // namespace
}  // namespace lb::explain
