// test_compare_multi.cc: two multi-class or multi-label models on the same split
// (models/evaluate/compare_multi.h): McNemar counts the images where exactly one model is right,
// per sample for multi-class and per label for multi-label; DeLong runs per class one-vs-rest and
// equals stats.h's delong_test on those vectors; a class without both sides records why.
#include <gtest/gtest.h>

#include <cmath>

#include "models/evaluate/compare_multi.h"
#include "tests/support/check.h"

namespace lb::eval {
namespace {

models::Predictions make(const std::vector<std::vector<double>>& probs, const std::vector<int64_t>& labels,
                         bool multilabel) {
  const int64_t n = static_cast<int64_t>(probs.size()), k = static_cast<int64_t>(probs[0].size());
  models::Predictions p;
  std::vector<double> flat;
  for (const auto& r : probs) flat.insert(flat.end(), r.begin(), r.end());
  p.probs = Tensor::from_vector(flat, {n, k});
  p.logits = p.probs.clone();
  std::vector<double> l(labels.begin(), labels.end());
  p.labels = Tensor::from_vector(l, multilabel ? Shape{n, k} : Shape{n}, DType::Int64);
  p.multilabel = multilabel;
  return p;
}

// Three classes, six images. A is right on all; B is wrong on images 1 and 4 only.
const std::vector<int64_t> kLabels = {0, 1, 2, 0, 1, 2};
const std::vector<std::vector<double>> kA = {{.8, .1, .1}, {.1, .7, .2}, {.2, .2, .6},
                                             {.6, .3, .1}, {.2, .5, .3}, {.1, .3, .6}};
const std::vector<std::vector<double>> kB = {{.7, .2, .1}, {.6, .3, .1}, {.1, .2, .7},
                                             {.5, .4, .1}, {.2, .3, .5}, {.3, .3, .4}};

TEST(CompareMulti, McNemarOnArgmaxCorrectnessAndDeLongPerClass) {
  const MultiComparison c = compare_multi(make(kA, kLabels, false), make(kB, kLabels, false));
  EXPECT_FALSE(c.multilabel);
  EXPECT_EQ(c.mcnemar.b, 2);  // A right, B wrong: images 1 and 4
  EXPECT_EQ(c.mcnemar.c, 0);
  EXPECT_EQ(c.mcnemar.both_right, 4);
  EXPECT_DOUBLE_EQ(c.accuracy_a, 1.0);
  EXPECT_DOUBLE_EQ(c.accuracy_b, 4.0 / 6.0);
  ASSERT_EQ(c.per_class.size(), 3u);
  for (int k = 0; k < 3; ++k) {
    std::vector<double> sa, sb;
    std::vector<int> y;
    for (size_t i = 0; i < kLabels.size(); ++i) {
      sa.push_back(kA[i][k]), sb.push_back(kB[i][k]), y.push_back(kLabels[i] == k);
    }
    const DeLongResult want = delong_test(sa, sb, y);
    EXPECT_DOUBLE_EQ(c.per_class[k].delong.auc_a, want.auc_a) << k;
    EXPECT_DOUBLE_EQ(c.per_class[k].delong.auc_b, want.auc_b) << k;
    EXPECT_DOUBLE_EQ(c.per_class[k].delong.p_value, want.p_value) << k;
    EXPECT_TRUE(c.per_class[k].delong_error.empty());
  }
  const nlohmann::json j = to_json(c, {"x", "y", "z"});
  EXPECT_EQ(j["per_class"][2]["name"], "z");
  EXPECT_EQ(j["mcnemar"]["b_a_right_b_wrong"], 2);
}

TEST(CompareMulti, MultiLabelTestsEveryLabelAndNamesAClassWithOneSide) {
  // Two labels, four images; label 1 is never present, so its AUC and DeLong are undefined.
  const std::vector<int64_t> y = {1, 0, 0, 0, 1, 0, 0, 0};
  const auto a = make({{.9, .2}, {.1, .3}, {.8, .1}, {.2, .4}}, y, true);
  const auto b = make({{.4, .6}, {.2, .1}, {.3, .2}, {.1, .1}}, y, true);
  const MultiComparison c = compare_multi(a, b);
  ASSERT_EQ(c.per_class.size(), 2u);
  // Label 0 (flags 1, 0, 1, 0) at 0.5: A right on all four; B predicts 0 everywhere, wrong on 0, 2.
  EXPECT_EQ(c.per_class[0].mcnemar.b, 2);
  EXPECT_EQ(c.per_class[0].mcnemar.c, 0);
  // Label 1 (all 0): A right everywhere (all <= 0.5), B wrong on image 0 (0.6).
  EXPECT_EQ(c.per_class[1].mcnemar.b, 1);
  EXPECT_EQ(c.per_class[1].mcnemar.c, 0);
  EXPECT_TRUE(std::isfinite(c.per_class[0].delong.auc_a));
  EXPECT_FALSE(c.per_class[1].delong_error.empty());
  EXPECT_TRUE(std::isnan(c.per_class[1].delong.auc_a));
  EXPECT_DOUBLE_EQ(c.accuracy_a, 1.0);
  EXPECT_DOUBLE_EQ(c.accuracy_b, 5.0 / 8.0);
}

TEST(CompareMulti, PredictionsOfDifferentSplitsAreRefused) {
  const auto a = make(kA, kLabels, false);
  test::expect_error([&] { compare_multi(a, make(kB, {0, 1, 2, 0, 1, 1}, false)); }, {"labels differ"});
  test::expect_error([&] { compare_multi(a, make({{.5, .5}}, {0}, false)); }, {"differ in shape"});
}

}  // namespace
}  // namespace lb::eval
