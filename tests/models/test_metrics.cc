// test_metrics.cc: confusion-based metrics, the ROC curve and AUC, Youden's threshold and the
// bootstrap intervals (models/evaluate/metrics.h).
//
// Layers: hand-computed tiny cases worked in the comments; then scikit-learn's own numbers for
// five scored sets (tests/fixtures/stats/<case>.json, written by make_stats_golden.py): 200
// samples with ties, heavy ties, a perfect classifier, an imbalanced set at threshold 0.3, and a
// single-class set for the NaN edges. Bootstrap intervals cannot match numpy's resampling, so
// they are checked by their properties: determinism, coverage of the estimate, the skipping
// rule, and agreement with the normal approximation and DeLong's standard error.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "base/common.h"
#include "engine/io/file.h"
#include "models/evaluate/metrics.h"
#include "models/evaluate/stats.h"

namespace lb::eval {
namespace {

using nlohmann::json;

json golden(const std::string& name) {
  return json::parse(io::read_file(std::string(LB_FIXTURES_DIR) + "/stats/" + name + ".json"));
}

// null in the golden files stands for NaN (or +inf where the caller says so).
double value(const json& v) { return v.is_null() ? std::numeric_limits<double>::quiet_NaN() : v.get<double>(); }

std::vector<double> doubles(const json& a) {
  std::vector<double> out;
  for (const json& v : a) out.push_back(value(v));
  return out;
}

// Equal, or both NaN: NaN is the documented answer for an undefined rate.
void expect_same(double got, double want, double tol, const std::string& what) {
  if (std::isnan(want)) {
    EXPECT_TRUE(std::isnan(got)) << what << ": got " << got << ", want NaN";
  } else {
    EXPECT_NEAR(got, want, tol) << what;
  }
}

const char* kCases[] = {"random200", "ties", "perfect", "imbalanced", "single_class"};

// ---- Metrics ----------------------------------------------------------------------------------------

// Seven samples at threshold 0.5 (predict 1 when score > 0.5):
//   label 1: 0.9 -> TP, 0.8 -> TP, 0.4 -> FN
//   label 0: 0.6 -> FP, 0.2 -> TN, 0.5 -> TN (0.5 is not > 0.5), 0.1 -> TN
// TP 2, FP 1, FN 1, TN 3: accuracy 5/7, sensitivity 2/3, specificity 3/4, PPV 2/3, NPV 3/4,
// F1 = 2*2 / (2*2 + 1 + 1) = 2/3, balanced accuracy (2/3 + 3/4) / 2 = 17/24.
TEST(Metrics, HandComputedSevenSamples) {
  const std::vector<double> s = {0.9, 0.8, 0.4, 0.6, 0.2, 0.5, 0.1};
  const std::vector<int> l = {1, 1, 1, 0, 0, 0, 0};
  const Confusion cm = confusion_at(s, l, 0.5);
  EXPECT_EQ(cm.tp, 2);
  EXPECT_EQ(cm.fp, 1);
  EXPECT_EQ(cm.fn, 1);
  EXPECT_EQ(cm.tn, 3);
  const ClassMetrics m = class_metrics(cm);
  // 1e-15: each rate is one division of small integers on both sides; only the last bit can differ.
  EXPECT_NEAR(m.accuracy, 5.0 / 7.0, 1e-15);
  EXPECT_NEAR(m.sensitivity, 2.0 / 3.0, 1e-15);
  EXPECT_NEAR(m.specificity, 3.0 / 4.0, 1e-15);
  EXPECT_NEAR(m.ppv, 2.0 / 3.0, 1e-15);
  EXPECT_NEAR(m.npv, 3.0 / 4.0, 1e-15);
  EXPECT_NEAR(m.f1, 2.0 / 3.0, 1e-15);
  EXPECT_NEAR(m.balanced_accuracy, 17.0 / 24.0, 1e-15);
  EXPECT_EQ(correctness(s, l, 0.5), (std::vector<int>{1, 1, 0, 0, 1, 1, 1}));
}

TEST(Metrics, ScoreEqualToThresholdIsNegative) {
  const Confusion cm = confusion_at({0.5, 0.5}, {1, 0}, 0.5);
  EXPECT_EQ(cm.fn, 1);
  EXPECT_EQ(cm.tn, 1);
}

// No positives and nothing predicted positive: sensitivity, PPV, F1 and balanced accuracy have
// zero denominators and are NaN; specificity and NPV are 1. JSON writes the NaNs as null.
TEST(Metrics, ZeroDenominatorsAreNaNAndJsonNull) {
  const ClassMetrics m = class_metrics(confusion_at({0.1, 0.2, 0.3}, {0, 0, 0}, 0.5));
  EXPECT_TRUE(std::isnan(m.sensitivity));
  EXPECT_TRUE(std::isnan(m.ppv));
  EXPECT_TRUE(std::isnan(m.f1));
  EXPECT_TRUE(std::isnan(m.balanced_accuracy));
  EXPECT_EQ(m.specificity, 1.0);
  EXPECT_EQ(m.npv, 1.0);
  const json j = to_json(m);
  EXPECT_TRUE(j["sensitivity"].is_null());
  EXPECT_TRUE(j["f1"].is_null());
  EXPECT_EQ(j["specificity"].get<double>(), 1.0);
  EXPECT_EQ(j.dump().find("NaN"), std::string::npos);
}

// TP = 0 with errors: F1 is 0 (the count form), not NaN.
TEST(Metrics, F1IsZeroWhenNoTruePositives) {
  const ClassMetrics m = class_metrics(confusion_at({0.9, 0.1}, {0, 1}, 0.5));
  EXPECT_EQ(m.f1, 0.0);
  EXPECT_EQ(m.ppv, 0.0);
  EXPECT_EQ(m.sensitivity, 0.0);
}

TEST(Metrics, MatchesSklearnOnGoldenCases) {
  for (const char* name : kCases) {
    SCOPED_TRACE(name);
    const json g = golden(name);
    const auto label = g["label"].get<std::vector<int>>();
    for (const char* tag : {"a", "b"}) {
      const json& want = g[std::string("metrics_") + tag];
      const Confusion cm = confusion_at(doubles(g[std::string("score_") + tag]), label, g["threshold"].get<double>());
      EXPECT_EQ(cm.tp, want["tp"].get<int64_t>());
      EXPECT_EQ(cm.fp, want["fp"].get<int64_t>());
      EXPECT_EQ(cm.fn, want["fn"].get<int64_t>());
      EXPECT_EQ(cm.tn, want["tn"].get<int64_t>());
      const ClassMetrics m = class_metrics(cm);
      // 1e-15: numpy and C++ both divide the same integers once (balanced accuracy: plus one
      // halved sum); the golden JSON keeps all 17 digits.
      expect_same(m.accuracy, value(want["accuracy"]), 1e-15, "accuracy");
      expect_same(m.sensitivity, value(want["sensitivity"]), 1e-15, "sensitivity");
      expect_same(m.specificity, value(want["specificity"]), 1e-15, "specificity");
      expect_same(m.ppv, value(want["ppv"]), 1e-15, "ppv");
      expect_same(m.npv, value(want["npv"]), 1e-15, "npv");
      expect_same(m.f1, value(want["f1"]), 1e-15, "f1");
      expect_same(m.balanced_accuracy, value(want["balanced_accuracy"]), 1e-15, "balanced_accuracy");
    }
  }
}

TEST(Metrics, BadInputsThrowOneLine) {
  auto message = [](auto&& fn) {
    try {
      fn();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([] { confusion_at({0.1, 0.2}, {1}); }).find("2 scores but 1 labels"), std::string::npos);
  EXPECT_NE(message([] { confusion_at({0.1}, {2}); }).find("expected 0 or 1"), std::string::npos);
  EXPECT_NE(message([] { confusion_at({}, {}); }).find("no samples"), std::string::npos);
  EXPECT_NE(message([] { roc_curve({std::nan("")}, {1}); }).find("NaN"), std::string::npos);
}

TEST(Metrics, EvaluateBundlesAndWritesJson) {
  const json g = golden("random200");
  const auto label = g["label"].get<std::vector<int>>();
  const auto score = doubles(g["score_a"]);
  const Evaluation ev = evaluate(score, label, 0.5, BootstrapOptions{200, 7, 0.95});
  EXPECT_EQ(ev.n, 200);
  EXPECT_EQ(ev.positives + ev.negatives, 200);
  EXPECT_NEAR(ev.auc, g["auc_a"].get<double>(), 1e-12);  // see Roc.MatchesSklearnOnGoldenCases
  EXPECT_EQ(ev.intervals.size(), 8u);
  const json j = to_json(ev);
  for (const char* key : {"n", "confusion", "metrics", "auc", "roc", "intervals"}) EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_TRUE(j["roc"]["thresholds"][0].is_null());  // +inf
  EXPECT_FALSE(to_json(ev, false).contains("roc"));

  // One class: still evaluates, with AUC NaN -> null and no ROC.
  const json s = golden("single_class");
  const Evaluation one = evaluate(doubles(s["score_a"]), s["label"].get<std::vector<int>>(), 0.5, {0, 0, 0.95});
  EXPECT_TRUE(std::isnan(one.auc));
  EXPECT_TRUE(to_json(one)["auc"].is_null());
  EXPECT_FALSE(to_json(one).contains("roc"));
}

// ---- Roc --------------------------------------------------------------------------------------------------

// scikit-learn's own roc_curve example. Positives score 0.35 and 0.8, negatives 0.1 and 0.4.
// Descending thresholds inf, 0.8, 0.4, 0.35, 0.1 admit: nothing; 0.8 (P); +0.4 (N); +0.35 (P);
// +0.1 (N), so tpr = 0, .5, .5, 1, 1 and fpr = 0, 0, .5, .5, 1.
// AUC by pairs: (0.35 > 0.1) yes, (0.35 > 0.4) no, (0.8 > 0.1) yes, (0.8 > 0.4) yes -> 3/4.
TEST(Roc, SklearnDocExampleByHand) {
  const RocCurve roc = roc_curve({0.1, 0.4, 0.35, 0.8}, {0, 0, 1, 1});
  EXPECT_EQ(roc.fpr, (std::vector<double>{0, 0, 0.5, 0.5, 1}));
  EXPECT_EQ(roc.tpr, (std::vector<double>{0, 0.5, 0.5, 1, 1}));
  ASSERT_EQ(roc.thresholds.size(), 5u);
  EXPECT_TRUE(std::isinf(roc.thresholds[0]) && roc.thresholds[0] > 0);
  EXPECT_EQ(roc.thresholds[1], 0.8);
  EXPECT_EQ(roc.thresholds[4], 0.1);
  EXPECT_EQ(roc_auc(roc), 0.75);  // exact: integer trapezoids, one division by P*N = 4
}

// A tie across classes counts one half. Positives 0.9, 0.5; negatives 0.5, 0.1. Pairs:
// 0.9 > 0.5, 0.9 > 0.1, 0.5 = 0.5 (1/2), 0.5 > 0.1 -> 3.5 / 4 = 0.875. The tied pair enters the
// ROC together: thresholds inf, 0.9, 0.5, 0.1 with (fpr, tpr) (0,0) (0,.5) (.5,1) (1,1), a
// diagonal segment whose trapezoid is exactly the half.
TEST(Roc, TiesCountOneHalf) {
  const RocCurve roc = roc_curve({0.9, 0.5, 0.5, 0.1}, {1, 1, 0, 0});
  EXPECT_EQ(roc.fpr, (std::vector<double>{0, 0, 0.5, 1}));
  EXPECT_EQ(roc.tpr, (std::vector<double>{0, 0.5, 1, 1}));
  EXPECT_EQ(roc_auc(roc), 0.875);
  EXPECT_EQ(roc_auc({0.5, 0.5, 0.5, 0.5}, {0, 1, 0, 1}), 0.5);  // all tied: chance
}

TEST(Roc, MatchesSklearnOnGoldenCases) {
  for (const char* name : kCases) {
    SCOPED_TRACE(name);
    const json g = golden(name);
    if (!g.contains("roc_a")) continue;  // the single-class case: see SingleClassThrows
    const auto label = g["label"].get<std::vector<int>>();
    for (const char* tag : {"a", "b"}) {
      const RocCurve roc = roc_curve(doubles(g[std::string("score_") + tag]), label);
      const json& want = g[std::string("roc_") + tag];
      const auto thr = doubles(want["thresholds"]);
      ASSERT_EQ(roc.thresholds.size(), thr.size());
      EXPECT_TRUE(std::isinf(roc.thresholds[0]));
      // Thresholds are input scores copied, and fpr/tpr are one integer division on both
      // sides, so all three match bit for bit.
      for (size_t k = 1; k < thr.size(); ++k) EXPECT_EQ(roc.thresholds[k], thr[k]) << k;
      EXPECT_EQ(roc.fpr, doubles(want["fpr"]));
      EXPECT_EQ(roc.tpr, doubles(want["tpr"]));
      // 1e-12: sklearn sums float trapezoids with np.trapz, we sum integers exactly; the
      // difference is rounding over at most a few hundred terms (~1e-16 each).
      EXPECT_NEAR(roc_auc(roc), g[std::string("auc_") + tag].get<double>(), 1e-12);
    }
  }
}

TEST(Roc, SingleClassThrows) {
  const json g = golden("single_class");
  try {
    roc_curve(doubles(g["score_a"]), g["label"].get<std::vector<int>>());
    ADD_FAILURE() << "expected an lb::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("only class 0"), std::string::npos) << e.what();
  }
}

// Youden on the sklearn example: J = tpr - fpr = 0, .5, 0, .5, 0. Two maxima, at index 1
// (t=0.8) and index 3 (t=0.35); the tie goes to the more sensitive index 3. Its `score > t`
// threshold is the midpoint of 0.35 and the next lower score 0.1.
TEST(Roc, YoudenByHandWithTieToSensitivity) {
  const OperatingPoint op = youden_threshold({0.1, 0.4, 0.35, 0.8}, {0, 0, 1, 1});
  EXPECT_EQ(op.index, 3u);
  EXPECT_EQ(op.roc_threshold, 0.35);
  EXPECT_DOUBLE_EQ(op.threshold, 0.225);  // (0.35 + 0.1) / 2, one rounding
  EXPECT_EQ(op.tpr, 1.0);
  EXPECT_EQ(op.fpr, 0.5);
  EXPECT_EQ(op.youden_j, 0.5);
  // operating_point_at inverts it: 0.225 lands on the same ROC point; 0.5 lands on index 1.
  EXPECT_EQ(operating_point_at(roc_curve({0.1, 0.4, 0.35, 0.8}, {0, 0, 1, 1}), 0.225).index, 3u);
  EXPECT_EQ(operating_point_at(roc_curve({0.1, 0.4, 0.35, 0.8}, {0, 0, 1, 1}), 0.5).index, 1u);
}

TEST(Roc, YoudenMatchesGoldenAndReproducesItsPoint) {
  for (const char* name : kCases) {
    SCOPED_TRACE(name);
    const json g = golden(name);
    if (!g.contains("youden_a")) continue;
    const auto label = g["label"].get<std::vector<int>>();
    for (const char* tag : {"a", "b"}) {
      const auto score = doubles(g[std::string("score_") + tag]);
      const json& want = g[std::string("youden_") + tag];
      const OperatingPoint op = youden_threshold(score, label);
      EXPECT_EQ(op.index, want["index"].get<size_t>());
      EXPECT_EQ(op.threshold, want["threshold"].get<double>());  // same midpoint formula, same rounding
      // Applying the threshold with the `score > t` rule lands exactly on the chosen point
      // (compared as counts: 1 - specificity and FP/N may differ in the last bit).
      const RocCurve roc = roc_curve(score, label);
      const Confusion cm = confusion_at(score, label, op.threshold);
      EXPECT_EQ(cm.tp, roc.tps[op.index]);
      EXPECT_EQ(cm.fp, roc.fps[op.index]);
      EXPECT_EQ(op.tpr, roc.tpr[op.index]);
      EXPECT_EQ(op.fpr, want["fpr"].get<double>());
      EXPECT_EQ(op.tpr, want["tpr"].get<double>());
    }
  }
}

// ---- Bootstrap ------------------------------------------------------------------------------------------

TEST(Bootstrap, SameSeedSameIntervalsAndDefaultB) {
  const json g = golden("random200");
  const auto label = g["label"].get<std::vector<int>>();
  const auto score = doubles(g["score_b"]);
  const auto a = bootstrap_intervals(score, label, standard_metrics(0.5), BootstrapOptions{});
  const auto b = bootstrap_intervals(score, label, standard_metrics(0.5), BootstrapOptions{});
  const auto c = bootstrap_intervals(score, label, standard_metrics(0.5), BootstrapOptions{1000, 99, 0.95});
  for (const auto& [name, ci] : a) {
    SCOPED_TRACE(name);
    EXPECT_EQ(ci.lo, b.at(name).lo);
    EXPECT_EQ(ci.hi, b.at(name).hi);
    EXPECT_EQ(ci.used + ci.skipped, 1000);  // default B
    EXPECT_LE(ci.lo, ci.estimate);
    EXPECT_GE(ci.hi, ci.estimate);
  }
  EXPECT_NE(a.at("auc").lo, c.at("auc").lo);
  EXPECT_EQ(a.at("auc").estimate, roc_auc(score, label));
}

// For a proportion the percentile interval approaches the normal one, p -+ 1.96 sqrt(p(1-p)/n).
// n = 600 at p ~ 0.88 gives a half-width of ~0.026.
TEST(Bootstrap, AccuracyMatchesNormalApproximation) {
  std::vector<double> score;
  std::vector<int> label;
  for (int i = 0; i < 600; ++i) {
    label.push_back(i % 3 == 0 ? 0 : 1);
    const bool right = (i * 7919) % 100 < 88;  // a fixed 88% of samples right
    score.push_back(right == (label.back() == 1) ? 0.9 : 0.1);
  }
  const NamedMetric acc = standard_metrics(0.5)[0];
  ASSERT_EQ(acc.name, "accuracy");
  const Interval ci = bootstrap_interval(score, label, acc, BootstrapOptions{4000, 3, 0.95});
  const double p = ci.estimate, half = 1.959964 * std::sqrt(p * (1 - p) / 600.0);
  // 0.003 (~12% of the half-width): the Monte Carlo error of a 2.5% quantile from B = 4000
  // resamples is about 0.0015, plus the discreteness of accuracy in steps of 1/600.
  EXPECT_NEAR(ci.lo, p - half, 0.003);
  EXPECT_NEAR(ci.hi, p + half, 0.003);
}

// The AUC interval's width should agree with DeLong's analytic standard error.
TEST(Bootstrap, AucWidthAgreesWithDeLong) {
  const json g = golden("random200");
  const auto label = g["label"].get<std::vector<int>>();
  const auto score = doubles(g["score_b"]);
  const NamedMetric auc = standard_metrics(0.5).back();
  ASSERT_EQ(auc.name, "auc");
  const Interval ci = bootstrap_interval(score, label, auc, BootstrapOptions{2000, 11, 0.95});
  const AucWithCi d = delong_auc_ci(score, label);
  // 25%: the AUC's bootstrap distribution is skewed near 1 and DeLong is a first-order
  // (jackknife-like) variance, so the two widths agree only roughly; a wrong resampler (no
  // replacement, wrong n) would be off by far more.
  EXPECT_NEAR(ci.hi - ci.lo, 2 * 1.959964 * d.se, 0.25 * 2 * 1.959964 * d.se);
}

// 1 positive in 10: a resample misses it with probability 0.9^10 ~ 0.35. AUC (needs both
// classes) and sensitivity (NaN without positives) skip those resamples; accuracy never does.
TEST(Bootstrap, SingleClassResamplesAreSkipped) {
  const std::vector<double> s = {0.9, 0.2, 0.3, 0.1, 0.6, 0.4, 0.2, 0.7, 0.1, 0.3};
  const std::vector<int> l = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  const auto cis = bootstrap_intervals(s, l, standard_metrics(0.5), BootstrapOptions{1000, 5, 0.95});
  const Interval& auc = cis.at("auc");
  EXPECT_GT(auc.skipped, 250);  // expected ~349; the binomial sd is ~15
  EXPECT_LT(auc.skipped, 450);
  EXPECT_EQ(auc.used + auc.skipped, 1000);
  EXPECT_EQ(cis.at("sensitivity").skipped, auc.skipped);  // the same resamples lack positives
  EXPECT_EQ(cis.at("accuracy").skipped, 0);
  EXPECT_TRUE(std::isfinite(auc.lo) && std::isfinite(auc.hi));
}

TEST(Bootstrap, ConstantMetricAndBadOptions) {
  const NamedMetric one{"one", [](const std::vector<double>&, const std::vector<int>&) { return 0.25; }};
  const Interval ci = bootstrap_interval({0.1, 0.9}, {0, 1}, one, BootstrapOptions{50, 1, 0.9});
  EXPECT_EQ(ci.lo, 0.25);
  EXPECT_EQ(ci.hi, 0.25);
  const Interval none = bootstrap_interval({0.1, 0.9}, {0, 1}, one, BootstrapOptions{0, 1, 0.95});
  EXPECT_TRUE(std::isnan(none.lo));
  EXPECT_THROW(bootstrap_interval({0.1}, {0}, one, BootstrapOptions{10, 1, 1.5}), Error);
  EXPECT_THROW(bootstrap_interval({0.1}, {0}, one, BootstrapOptions{-1, 1, 0.95}), Error);
}

}  // namespace
}  // namespace lb::eval
