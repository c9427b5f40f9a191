// Agreement of two explanations (explain/compare.h): Spearman's rho and the top-k overlap on
// hand-checkable series, and the per-map comparison's shapes.
#include <gtest/gtest.h>

#include <cmath>

#include "explain/compare.h"
#include "tests/support/check.h"

namespace lb::explain {
namespace {
using test::expect_error;

TEST(ExplainCompare, SpearmanHandCases) {
  EXPECT_DOUBLE_EQ(spearman({1, 2, 3, 4}, {10, 20, 30, 400}), 1.0);  // monotone, not linear
  EXPECT_DOUBLE_EQ(spearman({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0);
  // d = rank differences (0, 0, 1, -1): rho = 1 - 6 * 2 / (4 * 15) = 0.8 (no ties)
  EXPECT_NEAR(spearman({1, 2, 3, 4}, {1, 2, 4, 3}), 0.8, 1e-12);
  // ties get average ranks: {1, 2.5, 2.5, 4} vs {1, 2, 3, 4}: Pearson of ranks = sqrt(0.9)
  EXPECT_NEAR(spearman({1, 5, 5, 9}, {1, 2, 3, 4}), std::sqrt(0.9), 1e-12);
  EXPECT_TRUE(std::isnan(spearman({2, 2, 2}, {1, 2, 3})));  // a constant map has no ordering
  expect_error([] { spearman({1}, {1}); }, {"length >= 2"});
}

TEST(ExplainCompare, TopKOverlapUsesMagnitudes) {
  // top-2 by |value|: a -> {0, 3}, b -> {0, 1}
  EXPECT_DOUBLE_EQ(top_k_overlap({-9, 1, 0, 5}, {7, -6, 0, 1}, 2), 0.5);
  EXPECT_DOUBLE_EQ(top_k_overlap({1, 2, 3}, {1, 2, 3}, 3), 1.0);
  expect_error([] { top_k_overlap({1, 2}, {1, 2}, 3); }, {"k = 3"});
}

TEST(ExplainCompare, MapsAndDifferences) {
  Generator gen(3);
  const Tensor a = Tensor::randn({2, 2, 1, 5, 5}, gen, 0, 1, DType::Float64);
  Tensor b = a.clone();
  for (int64_t i = 25; i < 50; ++i) b.data<double>()[i] = -b.data<double>()[i];  // image 0, output 1 reversed
  const auto m = compare_maps(a, b, 0.2);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_DOUBLE_EQ(m[0][0].spearman, 1.0);
  EXPECT_DOUBLE_EQ(m[0][1].spearman, -1.0);
  EXPECT_DOUBLE_EQ(m[0][1].top_k, 1.0);  // same magnitudes: same top pixels
  EXPECT_EQ(m[0][0].k, 5);
  const Tensor d = difference_maps(a, b);
  EXPECT_DOUBLE_EQ(d.data<double>()[0], 0.0);
  EXPECT_DOUBLE_EQ(d.data<double>()[30], -2 * a.data<double>()[30]);
  expect_error([&] { compare_maps(a, Tensor::zeros({2, 2, 1, 5, 4}, DType::Float64)); }, {"one shape"});
}

}  // namespace
}  // namespace lb::explain
