// test_multiclass.cc: multi-class and multi-label evaluation (models/evaluate/multiclass.h).
//
// Layers: scikit-learn's numbers for five sets (tests/fixtures/multiclass/<case>.json, written by
// make_multiclass_golden.py): 3 classes, 5 classes with score and argmax ties, 14 labels, a class
// missing from the labels, and labels with no positives / no negatives. Then what sklearn cannot
// give: a 2-class set must agree with the binary evaluation of metrics.h (same draws, same counts),
// each bootstrap resample's AUC (computed from multiplicities) must equal the AUC of the
// materialised resample, the skip rule is counted independently, and every bad input gets its
// one-line error. Figures are tested in test_plots.cc, beside the SVG checker.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "base/common.h"
#include "engine/io/file.h"
#include "models/evaluate/metrics.h"
#include "models/evaluate/multiclass.h"

namespace lb::eval {
namespace {

using nlohmann::json;

json golden(const std::string& name) {
  return json::parse(io::read_file(std::string(LB_FIXTURES_DIR) + "/multiclass/" + name + ".json"));
}

// null in the golden files stands for NaN (or +inf for a ROC's first threshold).
double value(const json& v) { return v.is_null() ? std::numeric_limits<double>::quiet_NaN() : v.get<double>(); }

void expect_same(double got, double want, double tol, const std::string& what) {
  if (std::isnan(want)) {
    EXPECT_TRUE(std::isnan(got)) << what << ": got " << got << ", want NaN";
  } else {
    EXPECT_NEAR(got, want, tol) << what;
  }
}

std::vector<std::vector<double>> probs_of(const json& g) { return g["probs"].get<std::vector<std::vector<double>>>(); }

MultiEvaluation evaluate_golden(const json& g, const BootstrapOptions& options = {0, 0, 0.95}) {
  if (g["task"] == "multi-label")
    return evaluate_multilabel(probs_of(g), g["label"].get<std::vector<std::vector<int>>>(), options);
  return evaluate_multiclass(probs_of(g), g["label"].get<std::vector<int>>(), options);
}

const char* kCases[] = {"three_class", "five_class_ties", "absent_class", "fourteen_label", "multilabel_absent"};

void expect_class_matches(const PerClassResult& r, const json& want) {
  EXPECT_EQ(r.positives, want["positives"].get<int64_t>());
  EXPECT_EQ(r.negatives, want["negatives"].get<int64_t>());
  EXPECT_EQ(r.one_vs_rest.tp, want["tp"].get<int64_t>());
  EXPECT_EQ(r.one_vs_rest.fp, want["fp"].get<int64_t>());
  EXPECT_EQ(r.one_vs_rest.fn, want["fn"].get<int64_t>());
  EXPECT_EQ(r.one_vs_rest.tn, want["tn"].get<int64_t>());
  // 1e-15: both sides divide the same small integers once.
  expect_same(r.metrics.accuracy, value(want["accuracy"]), 1e-15, "accuracy");
  expect_same(r.metrics.sensitivity, value(want["sensitivity"]), 1e-15, "sensitivity");
  expect_same(r.metrics.specificity, value(want["specificity"]), 1e-15, "specificity");
  expect_same(r.metrics.ppv, value(want["ppv"]), 1e-15, "ppv");
  expect_same(r.metrics.npv, value(want["npv"]), 1e-15, "npv");
  expect_same(r.metrics.f1, value(want["f1"]), 1e-15, "f1");
  // 1e-14: sklearn sums float trapezoids, lightbox integer ones divided once.
  expect_same(r.auc, value(want["auc"]), 1e-14, "auc");
  if (!want.contains("roc")) {
    EXPECT_TRUE(want.contains("error")) << "sklearn gave no AUC and no reason";
    EXPECT_TRUE(r.roc.thresholds.empty());
    return;
  }
  const json& roc = want["roc"];
  ASSERT_EQ(r.roc.thresholds.size(), roc["thresholds"].size());
  EXPECT_TRUE(roc["thresholds"][0].is_null());
  EXPECT_TRUE(std::isinf(r.roc.thresholds[0]));
  for (size_t k = 0; k < r.roc.thresholds.size(); ++k) {
    if (k > 0) {
      EXPECT_EQ(r.roc.thresholds[k], roc["thresholds"][k].get<double>()) << "threshold " << k;
    }
    EXPECT_NEAR(r.roc.fpr[k], roc["fpr"][k].get<double>(), 1e-15) << "fpr " << k;
    EXPECT_NEAR(r.roc.tpr[k], roc["tpr"][k].get<double>(), 1e-15) << "tpr " << k;
  }
}

// ---- against scikit-learn ---------------------------------------------------------------------------

TEST(Multiclass, MatchesSklearnOnGoldenCases) {
  for (const char* name : kCases) {
    SCOPED_TRACE(name);
    const json g = golden(name);
    const MultiEvaluation ev = evaluate_golden(g);
    const size_t k = g["per_class"].size();
    EXPECT_EQ(ev.multilabel, g["task"] == "multi-label");
    EXPECT_EQ(ev.n, static_cast<int64_t>(g["probs"].size()));
    EXPECT_EQ(ev.classes, static_cast<int64_t>(k));
    // 1e-15: a count over N (multi-label: over N * L, which equals sklearn's mean of L accuracies
    // up to the last bits of that mean).
    EXPECT_NEAR(ev.accuracy, g["accuracy"].get<double>(), 1e-15);
    EXPECT_EQ(ev.undefined_auc_classes, g["undefined_auc_classes"].get<int64_t>());
    // The mean over the defined classes; where every class is defined it is MedMNIST's AUC and,
    // for multi-class, sklearn's ovr macro AUC.
    EXPECT_NEAR(ev.auc, g["auc_defined_mean"].get<double>(), 1e-14);
    if (ev.undefined_auc_classes == 0) {
      EXPECT_NEAR(ev.auc, g["auc"].get<double>(), 1e-14);
      if (!ev.multilabel) {
        EXPECT_NEAR(ev.auc, g["ovr_macro"].get<double>(), 1e-14);
      }
    } else {
      EXPECT_TRUE(g["auc"].is_null()) << "sklearn's MedMNIST AUC should be undefined here";
      EXPECT_TRUE(g.contains("auc_error"));
      EXPECT_TRUE(std::isfinite(ev.auc));
    }
    ASSERT_EQ(ev.per_class.size(), k);
    for (size_t c = 0; c < k; ++c) {
      SCOPED_TRACE("class " + std::to_string(c));
      expect_class_matches(ev.per_class[c], g["per_class"][c]);
    }
    if (ev.multilabel) {
      EXPECT_TRUE(ev.confusion.empty());
    } else {
      EXPECT_EQ(ev.confusion, g["confusion"].get<std::vector<std::vector<int64_t>>>());
    }
  }
}

// np.argmax takes the first maximum; five_class_ties has 20 rows with a tied maximum.
TEST(Multiclass, ArgmaxAndCorrectnessFollowNumpyOnTies) {
  const json g = golden("five_class_ties");
  const auto probs = probs_of(g);
  const auto label = g["label"].get<std::vector<int>>();
  const auto want = g["argmax"].get<std::vector<int>>();
  int ties = 0;
  for (size_t i = 0; i < probs.size(); ++i) {
    EXPECT_EQ(argmax(probs[i]), want[i]) << "row " << i;
    int at_max = 0;
    for (double p : probs[i]) at_max += p == probs[i][want[i]];
    ties += at_max > 1;
  }
  EXPECT_GT(ties, 0) << "the case should exercise argmax ties";
  const std::vector<int> correct = multiclass_correctness(probs, label);
  ASSERT_EQ(correct.size(), label.size());
  for (size_t i = 0; i < label.size(); ++i) EXPECT_EQ(correct[i], want[i] == label[i] ? 1 : 0);
}

// ---- agreement with the binary evaluation --------------------------------------------------------------

// Two classes with rows [1 - p, p]: argmax picks class 1 exactly when p > 0.5 (a tie at 0.5
// goes to class 0), metrics.h's threshold rule. So class 1's one-vs-rest numbers are the binary
// ones, and since both bootstraps use the same draws, the accuracy intervals are identical.
TEST(Multiclass, TwoClassesAgreeWithBinaryEvaluation) {
  const json g = json::parse(io::read_file(std::string(LB_FIXTURES_DIR) + "/stats/ties.json"));
  const auto label = g["label"].get<std::vector<int>>();
  const auto score = g["score_a"].get<std::vector<double>>();
  std::vector<std::vector<double>> probs;
  for (double p : score) probs.push_back({1.0 - p, p});
  const BootstrapOptions opt{300, 7, 0.95};
  const MultiEvaluation mc = evaluate_multiclass(probs, label, opt);
  const Evaluation bin = evaluate(score, label, 0.5, opt);
  const PerClassResult& one = mc.per_class[1];
  EXPECT_EQ(one.one_vs_rest.tp, bin.confusion.tp);
  EXPECT_EQ(one.one_vs_rest.fp, bin.confusion.fp);
  EXPECT_EQ(one.one_vs_rest.fn, bin.confusion.fn);
  EXPECT_EQ(one.one_vs_rest.tn, bin.confusion.tn);
  EXPECT_EQ(mc.accuracy, bin.metrics.accuracy);
  EXPECT_EQ(one.auc, bin.auc);
  // Class 0's AUC is class 1's seen from the other side; 1 - p keeps these 0.1-grid ties.
  EXPECT_NEAR(mc.per_class[0].auc, bin.auc, 1e-15);
  EXPECT_NEAR(mc.auc, bin.auc, 1e-15);
  const Interval& a = mc.intervals.at("accuracy");
  const Interval& b = bin.intervals.at("accuracy");
  EXPECT_EQ(a.lo, b.lo);
  EXPECT_EQ(a.hi, b.hi);
  EXPECT_EQ(a.used, b.used);
  EXPECT_NEAR(mc.intervals.at("auc").lo, bin.intervals.at("auc").lo, 1e-15);
  EXPECT_NEAR(mc.intervals.at("auc").hi, bin.intervals.at("auc").hi, 1e-15);
  EXPECT_EQ(mc.intervals.at("auc").skipped, bin.intervals.at("auc").skipped);
}

// ---- bootstrap -----------------------------------------------------------------------------------------

// The draws of resample `b` for seed `seed`, as bootstrap_resamples hands them to a metric.
std::vector<size_t> draws(size_t n, uint64_t seed, int b) {
  std::vector<size_t> out;
  int seen = -1;  // the first call is the full set (the estimates)
  bootstrap_resamples(n, {"x"},
                      [&](const std::vector<size_t>& idx, std::vector<double>& v) {
                        if (seen++ == b) out = idx;
                        v[0] = 0;
                      },
                      {b + 1, seed, 0.95});
  return out;
}

// One resample's AUC comes from multiplicities on the full set's sort order; it must be exactly
// the AUC of the resample written out row by row, and so must the accuracy. With one resample
// the interval's ends are that resample's value.
TEST(Multiclass, ResampleValuesEqualTheMaterialisedResample) {
  for (const char* name : {"three_class", "five_class_ties", "fourteen_label"}) {
    SCOPED_TRACE(name);
    const json g = golden(name);
    const auto probs = probs_of(g);
    for (uint64_t seed : {42, 43, 44}) {
      const std::vector<size_t> idx = draws(probs.size(), seed, 0);
      ASSERT_EQ(idx.size(), probs.size());
      const BootstrapOptions one{1, seed, 0.95};
      std::vector<std::vector<double>> p;
      for (size_t j : idx) p.push_back(probs[j]);
      MultiEvaluation direct, boot;
      if (g["task"] == "multi-label") {
        const auto labels = g["label"].get<std::vector<std::vector<int>>>();
        std::vector<std::vector<int>> l;
        for (size_t j : idx) l.push_back(labels[j]);
        direct = evaluate_multilabel(p, l, {0, 0, 0.95});
        boot = evaluate_multilabel(probs, labels, one);
      } else {
        const auto label = g["label"].get<std::vector<int>>();
        std::vector<int> l;
        for (size_t j : idx) l.push_back(label[j]);
        direct = evaluate_multiclass(p, l, {0, 0, 0.95});
        boot = evaluate_multiclass(probs, label, one);
      }
      ASSERT_EQ(direct.undefined_auc_classes, 0) << "pick a seed whose resample keeps every class";
      EXPECT_EQ(boot.intervals.at("auc").used, 1);
      EXPECT_EQ(boot.intervals.at("auc").lo, direct.auc);
      EXPECT_EQ(boot.intervals.at("auc").hi, direct.auc);
      EXPECT_EQ(boot.intervals.at("accuracy").lo, direct.accuracy);
      EXPECT_NE(direct.auc, boot.auc) << "a resample equal to the full set proves nothing";
      EXPECT_EQ(boot.intervals.at("auc").estimate, boot.auc);  // the full-set value, bit for bit
      EXPECT_EQ(boot.intervals.at("accuracy").estimate, boot.accuracy);
    }
  }
}

TEST(Multiclass, BootstrapIsSeededAndCoversTheEstimate) {
  const json g = golden("three_class");
  const auto probs = probs_of(g);
  const auto label = g["label"].get<std::vector<int>>();
  const MultiEvaluation a = evaluate_multiclass(probs, label, {400, 3, 0.95});
  const MultiEvaluation b = evaluate_multiclass(probs, label, {400, 3, 0.95});
  const MultiEvaluation c = evaluate_multiclass(probs, label, {400, 4, 0.95});
  for (const char* m : {"accuracy", "auc"}) {
    SCOPED_TRACE(m);
    const Interval& ia = a.intervals.at(m);
    EXPECT_EQ(ia.lo, b.intervals.at(m).lo);
    EXPECT_EQ(ia.hi, b.intervals.at(m).hi);
    EXPECT_TRUE(ia.lo != c.intervals.at(m).lo || ia.hi != c.intervals.at(m).hi) << "the seed changed nothing";
    EXPECT_LT(ia.lo, ia.estimate);
    EXPECT_GT(ia.hi, ia.estimate);
    EXPECT_EQ(ia.used + ia.skipped, 400);
  }
  // Accuracy is a proportion over 200 samples: its 95% interval is near +-1.96 sqrt(p(1-p)/n).
  const double se = std::sqrt(a.accuracy * (1 - a.accuracy) / 200.0);
  const Interval& acc = a.intervals.at("accuracy");
  EXPECT_NEAR(acc.hi - acc.lo, 2 * 1.96 * se, 0.25 * 2 * 1.96 * se);
  EXPECT_TRUE(evaluate_multiclass(probs, label, {0, 3, 0.95}).intervals.empty());
}

// A class with one positive among 12 samples is missing from about (11/12)^12 = 35% of the
// resamples. Those are skipped for "auc" (its mean would cover fewer classes) but not for
// "accuracy"; the count is checked against the draws themselves.
TEST(Multiclass, ResamplesMissingADefinedClassAreSkippedAndCounted) {
  std::vector<std::vector<double>> probs;
  std::vector<int> label;
  for (int i = 0; i < 12; ++i) {
    const int y = i == 0 ? 2 : i % 2;
    label.push_back(y);
    probs.push_back(y == 2 ? std::vector<double>{0.2, 0.2, 0.6}
                           : std::vector<double>{0.7 - 0.4 * y - 0.01 * i, 0.2 + 0.4 * y, 0.1 + 0.01 * i});
  }
  const int B = 200;
  const MultiEvaluation ev = evaluate_multiclass(probs, label, {B, 9, 0.95});
  EXPECT_EQ(ev.undefined_auc_classes, 0);
  int missing = 0;
  for (int b = 0; b < B; ++b) {
    bool has = false;
    for (size_t j : draws(12, 9, b)) has = has || j == 0;
    missing += !has;
  }
  EXPECT_GT(missing, 0);
  EXPECT_EQ(ev.intervals.at("auc").skipped, missing);
  EXPECT_EQ(ev.intervals.at("auc").used, B - missing);
  EXPECT_EQ(ev.intervals.at("accuracy").skipped, 0);
}

// Every label without positives: no AUC anywhere, NaN and a count instead of an error, and an
// interval with no usable resample.
TEST(Multiclass, NoDefinedClassGivesNaNAuc) {
  const std::vector<std::vector<double>> probs = {{0.2, 0.7}, {0.6, 0.1}, {0.3, 0.3}};
  const std::vector<std::vector<int>> labels = {{0, 0}, {0, 0}, {0, 0}};
  const MultiEvaluation ev = evaluate_multilabel(probs, labels, {50, 1, 0.95});
  EXPECT_TRUE(std::isnan(ev.auc));
  EXPECT_EQ(ev.undefined_auc_classes, 2);
  // Predictions 0.7 and 0.6 are wrong, the other four right: 4 of 6 decisions.
  EXPECT_DOUBLE_EQ(ev.accuracy, 4.0 / 6.0);
  EXPECT_EQ(ev.intervals.at("auc").used, 0);
  EXPECT_EQ(ev.intervals.at("auc").skipped, 50);
  EXPECT_TRUE(std::isnan(ev.intervals.at("auc").lo));
  const json j = to_json(ev);
  EXPECT_TRUE(j["auc"].is_null());
  EXPECT_TRUE(j["intervals"]["auc"]["lo"].is_null());
}

// ---- JSON ---------------------------------------------------------------------------------------------

TEST(Multiclass, JsonHasNullsNotNaNAndSaysWhatWasLeftOut) {
  const json g = golden("absent_class");
  const MultiEvaluation ev = evaluate_golden(g, {100, 1, 0.95});
  const json j = to_json(ev);
  EXPECT_EQ(j.dump().find("NaN"), std::string::npos);
  EXPECT_EQ(j["task"], "multi-class");
  EXPECT_EQ(j["undefined_auc_classes"].get<int64_t>(), 1);
  EXPECT_EQ(j["confusion"].get<std::vector<std::vector<int64_t>>>(), ev.confusion);
  ASSERT_EQ(j["per_class"].size(), 4u);
  EXPECT_TRUE(j["per_class"][2]["auc"].is_null());
  EXPECT_FALSE(j["per_class"][2].contains("roc"));
  EXPECT_TRUE(j["per_class"][2]["metrics"]["sensitivity"].is_null());  // no positives
  EXPECT_EQ(j["per_class"][1]["class"].get<int>(), 1);
  EXPECT_TRUE(j["per_class"][1].contains("roc"));
  EXPECT_TRUE(j["per_class"][1]["roc"]["thresholds"][0].is_null());  // +inf
  EXPECT_EQ(j["per_class"][3]["positives"].get<int64_t>(), ev.per_class[3].positives);
  EXPECT_DOUBLE_EQ(j["auc"].get<double>(), ev.auc);
  EXPECT_EQ(j["intervals"]["accuracy"]["used"].get<int>(), 100);
  EXPECT_FALSE(to_json(ev, false)["per_class"][1].contains("roc"));

  const json ml = to_json(evaluate_golden(golden("multilabel_absent")));
  EXPECT_EQ(ml["task"], "multi-label");
  EXPECT_FALSE(ml.contains("confusion"));
  EXPECT_FALSE(ml.contains("intervals"));
  EXPECT_EQ(ml["undefined_auc_classes"].get<int64_t>(), 2);
  EXPECT_TRUE(ml["per_class"][4]["metrics"]["specificity"].is_null());  // always positive: no negatives
}

// ---- bad input ------------------------------------------------------------------------------------------

std::string message(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.find('\n'), std::string::npos) << "not one line: " << m;
    return m;
  }
  return "no error";
}

TEST(Multiclass, BadInputsThrowOneLine) {
  using P = std::vector<std::vector<double>>;
  using L = std::vector<std::vector<int>>;
  const P good = {{0.2, 0.3, 0.5}, {0.6, 0.3, 0.1}};
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto has = [](const std::string& m, const std::string& want) {
    EXPECT_NE(m.find(want), std::string::npos) << "message: " << m << "\nwanted: " << want;
  };
  has(message([] { evaluate_multiclass({}, {}); }), "evaluate_multiclass: no samples");
  has(message([&] { evaluate_multiclass({{0.2, 0.8}, {1.0}}, {0, 1}); }), "ragged probabilities: row 1 has 1");
  has(message([&] { evaluate_multiclass(good, {0}); }), "2 probability rows but 1 labels");
  has(message([&] { evaluate_multiclass(good, {0, 3}); }), "label[1] = 3 is out of range for 3 classes");
  has(message([&] { evaluate_multiclass(good, {-1, 0}); }), "label[0] = -1 is out of range");
  has(message([&] { evaluate_multiclass({{0.2, nan}}, {0}); }), "probs[0][1] is NaN");
  has(message([&] { evaluate_multiclass({{2.5, -1.0}}, {0}); }), "probs[0][0] = 2.5 is not a probability");
  has(message([&] { evaluate_multiclass({{1.0}}, {0}); }), "rows of 1 probabilities; expected at least 2");
  has(message([&] { multiclass_correctness(good, {0, 5}); }), "multiclass_correctness: label[1] = 5");

  has(message([] { evaluate_multilabel({}, {}); }), "evaluate_multilabel: no samples");
  has(message([&] { evaluate_multilabel(good, L{{0, 1, 0}}); }), "2 probability rows but 1 label rows");
  has(message([&] { evaluate_multilabel(good, L{{0, 1, 0}, {1, 0}}); }), "ragged labels: row 1 has 2 labels");
  has(message([&] { evaluate_multilabel(good, L{{0, 1, 0}, {1, 2, 0}}); }), "labels[1][1] = 2, expected 0 or 1");
  has(message([&] { evaluate_multilabel(P{{0.1, nan}}, L{{0, 1}}); }), "probs[0][1] is NaN");
  has(message([&] { evaluate_multilabel(P{{0.1}, {0.2, 0.3}}, L{{0}, {1}}); }), "ragged probabilities");
  has(message([&] { evaluate_multiclass(good, {0, 1}, {-1, 0, 0.95}); }), "resamples = -1");
  has(message([] { argmax({}); }), "argmax: empty row");
}

}  // namespace
}  // namespace lb::eval
