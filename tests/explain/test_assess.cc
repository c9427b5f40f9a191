// test_assess.cc: the scores of explain/assess.h on cases whose answer is known without running
// them: a map equal to the mask localises perfectly, a random map is at chance, a linear model's
// deletion and insertion curves worked out by hand, rank correlations worked out by hand, SSIM of
// a map with itself, and cascading randomisation touching exactly one stage at a time.
#include <gtest/gtest.h>

#include <cmath>

#include "explain/assess.h"
#include "tests/support/check.h"
#include "tests/support/explain_fixture.h"

namespace lb::explain {
namespace {

using test::expect_error;

std::vector<uint8_t> random_mask(int64_t n, double p, uint64_t seed) {
  Generator g(seed);
  std::vector<uint8_t> m(n);
  for (auto& v : m) v = g.uniform() < p;
  return m;
}

TEST(AssessLocalisation, MaskAsAttributionScoresOne) {
  const std::vector<uint8_t> mask = random_mask(28 * 28, 0.1, 1);
  const std::vector<double> attr(mask.begin(), mask.end());
  EXPECT_DOUBLE_EQ(positive_share(attr, mask), 1.0);
  EXPECT_DOUBLE_EQ(pointing_game(attr, mask), 1.0);
  EXPECT_DOUBLE_EQ(detection_auc(attr, mask), 1.0);
  // The inverted map ranks every lesion pixel last: AUC 0, nothing positive on the lesion.
  std::vector<double> inv(attr.size());
  for (size_t i = 0; i < attr.size(); ++i) inv[i] = 1.0 - attr[i];
  EXPECT_DOUBLE_EQ(detection_auc(inv, mask), 0.0);
  EXPECT_DOUBLE_EQ(positive_share(inv, mask), 0.0);
  EXPECT_DOUBLE_EQ(pointing_game(inv, mask), 0.0);
}

TEST(AssessLocalisation, RandomAttributionIsAtChance) {
  // 10000 pixels, 30% lesion: the AUC's standard deviation is about 0.006, so 0.03 is 5 sigma.
  const std::vector<uint8_t> mask = random_mask(10000, 0.3, 2);
  Generator g(3);
  std::vector<double> attr(mask.size());
  for (auto& v : attr) v = g.uniform(-1, 1);
  EXPECT_NEAR(detection_auc(attr, mask), 0.5, 0.03);
  // Uniform positive evidence spreads like the mask: share ~ 0.3 (std ~ 0.01).
  EXPECT_NEAR(positive_share(attr, mask), 0.3, 0.05);
}

TEST(AssessLocalisation, HandComputedCases) {
  // Positives {3, 2}, negatives {1, 2}: pairs 3>1, 3>2, 2>1 win, 2=2 ties: (3 + 0.5) / 4.
  EXPECT_DOUBLE_EQ(detection_auc({3, 1, 2, 2}, {1, 0, 1, 0}), 0.875);
  // Positive attribution 2 + 1 + 1, of which 2 on the mask; the -1 does not count.
  EXPECT_DOUBLE_EQ(positive_share({2, -1, 1, 1}, {1, 1, 0, 0}), 0.5);
  EXPECT_TRUE(std::isnan(positive_share({-2, -1, 0, 0}, {1, 1, 0, 0})));
  // A tie for the top goes to the first element.
  EXPECT_DOUBLE_EQ(pointing_game({5, 5, 0}, {1, 0, 0}), 1.0);
  EXPECT_DOUBLE_EQ(pointing_game({5, 5, 0}, {0, 1, 0}), 0.0);
  EXPECT_TRUE(std::isnan(detection_auc({1, 2}, {0, 0})));
  expect_error([] { positive_share({1, 2, 3}, {1, 0}); }, {"positive_share", "3", "2"});
}

// f(x) = (w . x, -w . x) for a 2x2 image: a linear model whose curves are sums of weights.
BatchFn linear_model(const std::vector<double>& w) {
  return [w](const Tensor& x) {
    const int64_t B = x.size(0), n = x.numel() / B;
    Tensor out = Tensor::empty({B, 2}, DType::Float64);
    for (int64_t b = 0; b < B; ++b) {
      double s = 0;
      for (int64_t e = 0; e < n; ++e) s += w[e] * x.data<float>()[b * n + e];
      out.data<double>()[2 * b] = s;
      out.data<double>()[2 * b + 1] = -s;
    }
    return out;
  };
}

TEST(AssessCurves, LinearModelByHand) {
  // x = (1, 2, 3, 4), w = (1, -1, 2, 0.5): contributions w x = (1, -2, 6, 2), order (2, 3, 0, 1).
  const BatchFn f = linear_model({1, -1, 2, 0.5});
  const Tensor x = Tensor::from_vector({1, 2, 3, 4}, {1, 1, 2, 2});
  const Tensor ref = Tensor::zeros({1, 1, 2, 2});
  const std::vector<int64_t> order = attribution_order({1, -2, 6, 2});
  EXPECT_EQ(order, (std::vector<int64_t>{2, 3, 0, 1}));
  // Deletion: 7, then minus 6, minus 2, minus 1, minus -2: 7, 1, -1, -2, 0.
  const Curve del = perturbation_curve(f, x, ref, order, 0, CurveKind::Deletion, 4);
  EXPECT_EQ(del.output, (std::vector<double>{7, 1, -1, -2, 0}));
  EXPECT_EQ(del.fraction, (std::vector<double>{0, 0.25, 0.5, 0.75, 1}));
  EXPECT_DOUBLE_EQ(del.auc, 0.25 * (7.0 / 2 + 1 - 1 - 2 + 0.0 / 2));  // 0.375
  // Insertion: 0, 6, 8, 9, 7.
  const Curve ins = perturbation_curve(f, x, ref, order, 0, CurveKind::Insertion, 4, /*batch=*/2);
  EXPECT_EQ(ins.output, (std::vector<double>{0, 6, 8, 9, 7}));
  EXPECT_DOUBLE_EQ(ins.auc, 0.25 * (0.0 / 2 + 6 + 8 + 9 + 7.0 / 2));  // 6.625
  // Two steps of two elements; output 1 is the negation.
  const Curve two = perturbation_curve(f, x, ref, order, 1, CurveKind::Deletion, 2, /*batch=*/1);
  EXPECT_EQ(two.output, (std::vector<double>{-7, 1, 0}));
  EXPECT_EQ(two.fraction, (std::vector<double>{0, 0.5, 1}));
}

TEST(AssessCurves, AttributionOrderBeatsEveryRandomOrderOnALinearModel) {
  // With reference 0, deleting the largest contributions first leaves the smallest possible sum
  // after every step, so no ordering has a lower deletion curve.
  Generator g(5);
  std::vector<double> w(36), xv(36), contrib(36);
  for (int i = 0; i < 36; ++i) w[i] = g.uniform(-1, 1), xv[i] = g.uniform(-1, 1), contrib[i] = w[i] * xv[i];
  const BatchFn f = linear_model(w);
  const Tensor x = Tensor::from_vector(xv, {1, 1, 6, 6}), ref = Tensor::zeros({1, 1, 6, 6});
  const Curve best = perturbation_curve(f, x, ref, attribution_order(contrib), 0, CurveKind::Deletion, 36);
  const Curve best_ins = perturbation_curve(f, x, ref, attribution_order(contrib), 0, CurveKind::Insertion, 36);
  for (uint64_t seed = 0; seed < 10; ++seed) {
    const std::vector<int64_t> r = random_order(36, seed);
    EXPECT_LE(best.auc, perturbation_curve(f, x, ref, r, 0, CurveKind::Deletion, 36).auc + 1e-9) << seed;
    EXPECT_GE(best_ins.auc, perturbation_curve(f, x, ref, r, 0, CurveKind::Insertion, 36).auc - 1e-9) << seed;
  }
}

TEST(AssessCurves, BadInputIsOneLine) {
  const BatchFn f = linear_model({1, 1, 1, 1});
  const Tensor x = Tensor::zeros({1, 1, 2, 2});
  expect_error(
      [&] {
        perturbation_curve(f, x, Tensor::zeros({1, 1, 2, 3}), {0, 1, 2, 3}, 0, CurveKind::Deletion, 4);
      },
      {"reference must match"});
  expect_error([&] { perturbation_curve(f, x, x, {0, 1}, 0, CurveKind::Deletion, 4); }, {"order has 2"});
  expect_error([&] { perturbation_curve(f, x, x, {0, 1, 2, 3}, 0, CurveKind::Deletion, 5); }, {"steps must be 1..4"});
  expect_error([&] { perturbation_curve(f, x, x, {0, 1, 2, 3}, 2, CurveKind::Deletion, 4); }, {"output 2"});
}

TEST(AssessSimilarity, SpearmanByHand) {
  EXPECT_DOUBLE_EQ(spearman({1, 2, 3, 4}, {10, 20, 30, 40}), 1.0);
  EXPECT_DOUBLE_EQ(spearman({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0);
  EXPECT_NEAR(spearman({1, 2, 3, 4}, {1, 8, 27, 64}), 1.0, 1e-15);  // any increasing transform
  // Ranks of b with a tie: (1, 2, 3.5, 5, 3.5); centred: a (-2, -1, 0, 1, 2), b (-2, -1, .5, 2, .5):
  // sum ab = 8, sum aa = 10, sum bb = 9.5, rho = 8 / sqrt(95).
  EXPECT_NEAR(spearman({1, 2, 3, 4, 5}, {5, 6, 7, 8, 7}), 8.0 / std::sqrt(95.0), 1e-15);
  EXPECT_TRUE(std::isnan(spearman({1, 1, 1}, {1, 2, 3})));
  expect_error([] { spearman({1, 2}, {1}); }, {"spearman", "2", "1"});
}

TEST(AssessSimilarity, SsimOfIdenticalMapsIsOne) {
  Generator g(7);
  std::vector<double> a(28 * 28), b(28 * 28);
  for (size_t i = 0; i < a.size(); ++i) a[i] = g.uniform(), b[i] = g.uniform();
  EXPECT_NEAR(ssim(a, a, 28, 28), 1.0, 1e-12);
  const double ab = ssim(a, b, 28, 28);
  EXPECT_LT(ab, 0.2);  // independent noise has no shared structure
  EXPECT_NEAR(ab, ssim(b, a, 28, 28), 1e-12);
  // A constant map against itself: L falls back to 1 and the score is still 1.
  const std::vector<double> zero(16 * 16, 0.0);
  EXPECT_NEAR(ssim(zero, zero, 16, 16), 1.0, 1e-12);
  // Inverting the contrast keeps the means apart from zero but flips every covariance.
  std::vector<double> inv(a.size());
  for (size_t i = 0; i < a.size(); ++i) inv[i] = 1.0 - a[i];
  EXPECT_LT(ssim(a, inv, 28, 28), 0.0);
  expect_error([&] { ssim(a, a, 28, 28, 6); }, {"window must be odd"});
}

TEST(AssessSimilarity, AbsMapSumsChannelsAndUpsamples) {
  // 2 channels of 2x2 -> 4x4: each output pixel is |c0| + |c1| of its 2x2 block's cell.
  const std::vector<double> v = {1, -2, 3, 4, /*c1*/ -1, 1, 0, -1};
  const std::vector<double> m = abs_map(v, 2, 2, 2, 4, 4);
  EXPECT_EQ(m[0], 2);             // cell (0,0): 1 + 1
  EXPECT_EQ(m[3], 3);             // cell (0,1): 2 + 1
  EXPECT_EQ(m[2 * 4 + 0], 3);     // cell (1,0): 3 + 0
  EXPECT_EQ(m[3 * 4 + 3], 5);     // cell (1,1): 4 + 1
  EXPECT_EQ(m[1 * 4 + 1], m[0]);  // same block, same value
}

TEST(AssessSanity, RandomizeStageTouchesOnlyThatStage) {
  models::Checkpoint ck = test::explain_fixture_checkpoint();
  const nn::StateDict before = ck.model->state_dict();
  std::vector<Tensor> copies;
  for (const auto& [k, t] : before) copies.push_back(t.clone());
  randomize_stage(*ck.model, "fc", 1);
  const nn::StateDict mid = ck.model->state_dict();
  for (size_t i = 0; i < mid.size(); ++i) {
    const std::string& key = mid[i].first;
    const bool same = mid[i].second.to_vector() == copies[i].to_vector();
    if (key == "fc.weight" || key == "fc.bias") {
      EXPECT_FALSE(same) << key;
    } else {
      EXPECT_TRUE(same) << key;
    }
  }
  randomize_stage(*ck.model, "stem", 2);
  const nn::StateDict after = ck.model->state_dict();
  for (size_t i = 0; i < after.size(); ++i) {
    const std::string& key = after[i].first;
    const bool same = after[i].second.to_vector() == copies[i].to_vector();
    if (key == "conv1.weight") {
      EXPECT_FALSE(same) << key;
    }
    if (key == "bn1.running_mean" || key.rfind("layer", 0) == 0) {
      EXPECT_TRUE(same) << key;  // statistics kept, deeper stages untouched
    }
  }
  expect_error([&] { randomize_stage(*ck.model, "layer9", 0); }, {"unknown stage", "layer9"});
  EXPECT_EQ(cascade_stages().front(), "fc");
  EXPECT_EQ(cascade_stages().back(), "stem");
}

TEST(AssessSanity, ExplainForAssessRefusesLayersForPartitionAndIg) {
  models::Checkpoint ck = test::explain_fixture_checkpoint();
  const Explained f{*ck.model, ModelOutput::Logits};
  MethodSettings s;
  s.layer = "layer1";
  const Tensor x = test::random_tensor({1, 1, 28, 28}, 1, DType::Float32);
  expect_error([&] { explain_for_assess("partition", f, x, x, s); }, {"partition", "input only"});
  expect_error([&] { explain_for_assess("ig", f, x, x, s); }, {"ig", "input only"});
  expect_error([&] { explain_for_assess("lime", f, x, x, s); }, {"unknown method", "lime"});
}

}  // namespace
}  // namespace lb::explain
