// test_stats.cc: the two-model tests (models/evaluate/stats.h): McNemar's exact test, scipy's
// chi-squared contingency test (including the seed report's "P=1"), DeLong's AUC test, and the
// special functions under them.
//
// Layers: hand-computed small cases in the comments; scipy's chi2.sf / norm.cdf / binom.cdf on a
// grid reaching 1e-30 tails; scipy's chi2_contingency and binomtest on the golden cases
// (tests/fixtures/stats/, make_stats_golden.py); and for DeLong an independent O(m n) numpy
// implementation of the 1988 paper, which checks the C++ midrank algorithm (Sun & Xu 2014).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "base/common.h"
#include "engine/io/file.h"
#include "models/evaluate/stats.h"

namespace lb::eval {
namespace {

using nlohmann::json;

json golden(const std::string& name) {
  return json::parse(io::read_file(std::string(LB_FIXTURES_DIR) + "/stats/" + name + ".json"));
}

std::vector<double> doubles(const json& a) {
  std::vector<double> out;
  for (const json& v : a) out.push_back(v.is_null() ? std::numeric_limits<double>::quiet_NaN() : v.get<double>());
  return out;
}

// |got - want| <= rel * |want| + abs: relative for p-values spanning many decades.
void expect_rel(double got, double want, double rel, double abs, const std::string& what) {
  EXPECT_LE(std::fabs(got - want), rel * std::fabs(want) + abs) << what << ": got " << got << ", want " << want;
}

const char* kCases[] = {"random200", "ties", "perfect", "imbalanced", "single_class"};

// ---- McNemar ----------------------------------------------------------------------------------------

// A right on 3 images B gets wrong, never the reverse: b = 3, c = 0. Under H0 each discordant
// pair is a fair coin: P(min <= 0) = 0.5^3 = 1/8, two-sided 1/4.
TEST(McNemar, HandComputed) {
  const McNemarResult r = mcnemar_exact({1, 1, 1, 1, 0}, {0, 0, 0, 1, 0});
  EXPECT_EQ(r.b, 3);
  EXPECT_EQ(r.c, 0);
  EXPECT_EQ(r.both_right, 1);
  EXPECT_EQ(r.both_wrong, 1);
  EXPECT_EQ(r.statistic, 0);
  EXPECT_DOUBLE_EQ(r.p_value, 0.25);  // exp(lgamma) pmf: within a few ulps of 1/8
  // b == c: the CDF at the centre is above 1/2, so the doubled p is capped at 1.
  EXPECT_EQ(mcnemar_exact({1, 0}, {0, 1}).p_value, 1.0);
  // The models never disagree: nothing to test, p = 1.
  EXPECT_EQ(mcnemar_exact({1, 1, 0}, {1, 1, 0}).p_value, 1.0);
  EXPECT_THROW(mcnemar_exact({1}, {1, 0}), Error);
}

TEST(McNemar, MatchesScipyBinomtestOnGoldenCases) {
  for (const char* name : kCases) {
    SCOPED_TRACE(name);
    const json g = golden(name);
    const auto label = g["label"].get<std::vector<int>>();
    const double t = g["threshold"].get<double>();
    const McNemarResult r =
        mcnemar_exact(correctness(doubles(g["score_a"]), label, t), correctness(doubles(g["score_b"]), label, t));
    EXPECT_EQ(r.b, g["mcnemar"]["b"].get<int64_t>());
    EXPECT_EQ(r.c, g["mcnemar"]["c"].get<int64_t>());
    // 1e-12 relative: we sum exp(log pmf) terms, scipy evaluates the incomplete beta function;
    // lgamma's ~1e-16 relative error on values ~100 leaves ~1e-14 in each term (measured 1e-14).
    expect_rel(r.p_value, g["mcnemar"]["p"].get<double>(), 1e-12, 0, "p");
  }
}

TEST(McNemar, BinomialCdfMatchesScipy) {
  const json special = golden("special");
  for (const json& c : special["binom_cdf"]) {
    const double got = binom_cdf(c["k"].get<int64_t>(), c["n"].get<int64_t>(), c["p"].get<double>());
    // 1e-11 relative: up to 1000 terms, each with lgamma rounding (~1e-16 * 6000 ~ 1e-12
    // absolute in the exponent); tails reach 1e-300, so relative, not absolute.
    expect_rel(got, c["cdf"].get<double>(), 1e-11, 1e-300, "binom_cdf(" + c.dump() + ")");
  }
  EXPECT_EQ(binom_cdf(-1, 10, 0.5), 0.0);
  EXPECT_EQ(binom_cdf(10, 10, 0.5), 1.0);
  EXPECT_EQ(binom_cdf(3, 10, 0.0), 1.0);
}

// ---- ChiSquared -------------------------------------------------------------------------------------

// [[10, 20], [20, 10]]: every expected count is 15 and every |O - E| = 5. Without correction
// 4 * 25 / 15 = 20/3; Yates shrinks each |O - E| to 4.5: 4 * 20.25 / 15 = 5.4.
TEST(ChiSquared, HandComputedTwoByTwo) {
  const ChiSquaredResult plain = chi2_contingency({{10, 20}, {20, 10}}, false);
  EXPECT_NEAR(plain.statistic, 20.0 / 3.0, 1e-13);  // four terms of exact-ish doubles
  EXPECT_EQ(plain.dof, 1);
  EXPECT_FALSE(plain.yates);
  const ChiSquaredResult yates = chi2_contingency({{10, 20}, {20, 10}});
  EXPECT_NEAR(yates.statistic, 5.4, 1e-13);
  EXPECT_TRUE(yates.yates);
  EXPECT_EQ(yates.expected[0][0], 15.0);
}

// The seed report: untuned 545/624 and tuned 546/624 correct. Expected counts are 545.5 and
// 78.5, every |O - E| is exactly 0.5, Yates removes all of it: statistic 0, p exactly 1.
TEST(ChiSquared, SeedReportPEqualsOneIsYates) {
  Confusion untuned{400, 40, 39, 145}, tuned{401, 40, 38, 145};  // 545 and 546 correct
  ASSERT_EQ(untuned.correct(), 545);
  ASSERT_EQ(tuned.correct(), 546);
  const ChiSquaredResult r = chi2_correct_table(untuned, tuned);
  EXPECT_EQ(r.statistic, 0.0);
  EXPECT_EQ(r.p_value, 1.0);
  EXPECT_EQ(r.expected[0][0], 545.5);
}

TEST(ChiSquared, MatchesScipyTables) {
  const json tables = golden("tables");
  for (const auto& [name, want] : tables.items()) {
    SCOPED_TRACE(name);
    std::vector<std::vector<double>> table = want["table"].get<std::vector<std::vector<double>>>();
    if (want.contains("error")) {
      EXPECT_THROW(chi2_contingency(table), Error);
      continue;
    }
    const ChiSquaredResult r = chi2_contingency(table);
    EXPECT_EQ(r.dof, want["dof"].get<int>());
    // 1e-12: the same sum of a dozen terms in a different order.
    expect_rel(r.statistic, want["statistic"].get<double>(), 1e-12, 1e-15, "statistic");
    // 1e-12 relative: our incomplete gamma vs scipy's cephes, both good to ~1e-15 (measured
    // 2e-15 here); the margin covers the statistic's own rounding amplified by the tail's slope.
    expect_rel(r.p_value, want["p"].get<double>(), 1e-12, 0, "p");
    const auto expected = want["expected"].get<std::vector<std::vector<double>>>();
    for (size_t i = 0; i < expected.size(); ++i)
      for (size_t j = 0; j < expected[i].size(); ++j) {
        // 1e-14: row * column / total, the same three-number product in both, up to order.
        expect_rel(r.expected[i][j], expected[i][j], 1e-14, 0, "E");
      }
  }
}

TEST(ChiSquared, MatchesScipyOnGoldenCases) {
  for (const char* name : kCases) {
    SCOPED_TRACE(name);
    const json g = golden(name);
    const auto label = g["label"].get<std::vector<int>>();
    const double t = g["threshold"].get<double>();
    const Confusion a = confusion_at(doubles(g["score_a"]), label, t),
                    b = confusion_at(doubles(g["score_b"]), label, t);
    const std::pair<const char*, std::function<ChiSquaredResult()>> tests[] = {
        {"chi2_confusion", [&] { return chi2_confusion_table(a, b); }},
        {"chi2_correct", [&] { return chi2_correct_table(a, b); }}};
    for (const auto& [key, run] : tests) {
      const json& want = g[key];
      if (want.contains("error")) {
        EXPECT_THROW(run(), Error) << key;
        continue;
      }
      const ChiSquaredResult r = run();
      EXPECT_EQ(r.dof, want["dof"].get<int>()) << key;
      expect_rel(r.statistic, want["statistic"].get<double>(), 1e-12, 1e-15, key);  // as MatchesScipyTables
      expect_rel(r.p_value, want["p"].get<double>(), 1e-12, 0, key);
    }
  }
}

TEST(ChiSquared, SurvivalFunctionMatchesScipy) {
  const json special = golden("special");
  for (const json& c : special["chi2_sf"]) {
    const double got = chi2_sf(c["x"].get<double>(), c["k"].get<double>());
    // 1e-12 relative down to 1e-65 tails: the continued fraction converges to 1e-15 and the
    // prefactor exp(a log x - x - lgamma(a)) loses ~1e-16 per unit of its exponent (<= 150).
    expect_rel(got, c["sf"].get<double>(), 1e-12, 1e-300, "chi2_sf(" + c.dump() + ")");
  }
  EXPECT_EQ(chi2_sf(-1, 3), 1.0);
  EXPECT_EQ(gamma_q(2.0, 0.0), 1.0);
  EXPECT_THROW(chi2_sf(1, 0), Error);
}

TEST(ChiSquared, RaggedOrNegativeTablesThrow) {
  EXPECT_THROW(chi2_contingency({{1, 2}, {3}}), Error);
  EXPECT_THROW(chi2_contingency({{1, -2}, {3, 4}}), Error);
  EXPECT_THROW(chi2_contingency({}), Error);
}

// ---- DeLong ----------------------------------------------------------------------------------------------

// Positives {0.8, 0.6}, negatives {0.7, 0.2}. psi(x, y) = [x > y]:
//          0.7  0.2   V10
//   0.8     1    1    1
//   0.6     0    1    0.5
//   V01    0.5   1
// AUC = mean V10 = 0.75; S10 = var(1, 0.5) = 0.125, S01 = var(0.5, 1) = 0.125 (ddof 1);
// Var(AUC) = S10 / m + S01 / n = 0.0625 + 0.0625 = 0.125.
TEST(DeLong, HandComputedFourSamples) {
  const AucWithCi r = delong_auc_ci({0.8, 0.6, 0.7, 0.2}, {1, 1, 0, 0});
  // DOUBLE_EQ (4 ulps): quarters and halves are exact; only the mean and the sqrt round.
  EXPECT_DOUBLE_EQ(r.auc, 0.75);
  EXPECT_DOUBLE_EQ(r.se, std::sqrt(0.125));
  EXPECT_EQ(r.hi, 1.0);  // 0.75 + 1.96 * 0.354 clipped to 1
}

TEST(DeLong, IdenticalModelsGiveZeroDifference) {
  const std::vector<double> s = {0.9, 0.3, 0.5, 0.7, 0.2, 0.4};
  const DeLongResult r = delong_test(s, s, {1, 0, 1, 1, 0, 0});
  EXPECT_EQ(r.diff, 0.0);
  EXPECT_EQ(r.z, 0.0);
  EXPECT_EQ(r.p_value, 1.0);
  // 1e-15: var_a + var_b - 2 cov of identical vectors cancels to rounding only.
  EXPECT_NEAR(r.se, 0.0, 1e-15);
}

TEST(DeLong, MatchesQuadratic1988FormulasOnGoldenCases) {
  for (const char* name : kCases) {
    SCOPED_TRACE(name);
    const json g = golden(name);
    const auto label = g["label"].get<std::vector<int>>();
    const auto a = doubles(g["score_a"]), b = doubles(g["score_b"]);
    const json& want = g["delong"];
    if (want.contains("error")) {
      EXPECT_THROW(delong_test(a, b, label), Error);
      continue;
    }
    const DeLongResult r = delong_test(a, b, label);
    // AUCs: 1e-13. Midrank sums and psi means are different roundings of the same rationals.
    EXPECT_NEAR(r.auc_a, want["auc_a"].get<double>(), 1e-13);
    EXPECT_NEAR(r.auc_b, want["auc_b"].get<double>(), 1e-13);
    EXPECT_NEAR(r.auc_a, roc_auc(a, label), 1e-13);  // DeLong's AUC is the ROC's AUC
    // Variances: 1e-12 relative + 1e-17 absolute (measured <= 2e-15). Covariances of
    // components near 1 (AUC ~0.99) cancel ~3 digits; the absolute part covers the perfect
    // case's exact zero.
    expect_rel(r.var_a, want["var_a"].get<double>(), 1e-12, 1e-17, "var_a");
    expect_rel(r.var_b, want["var_b"].get<double>(), 1e-12, 1e-17, "var_b");
    expect_rel(r.cov_ab, want["cov_ab"].get<double>(), 1e-12, 1e-17, "cov_ab");
    expect_rel(r.se * r.se, want["var_diff"].get<double>(), 1e-12, 1e-17, "var_diff");
    // z: 1e-10. In the imbalanced case the AUCs differ by 4e-4, so the difference keeps only
    // ~12 of 16 digits (measured 5e-13). p = erfc(|z| / sqrt 2) inherits that times ~z^2.
    expect_rel(r.z, want["z"].get<double>(), 1e-10, 0, "z");
    expect_rel(r.p_value, want["p"].get<double>(), 1e-10, 0, "p");
    EXPECT_NEAR(r.ci_hi - r.ci_lo, 2 * 1.959963984540054 * r.se, 1e-15);  // diff -+ 1.96 se: two roundings
    EXPECT_TRUE(r.ci_lo <= r.diff && r.diff <= r.ci_hi);
  }
}

TEST(DeLong, NormalCdfMatchesScipy) {
  const json special = golden("special");
  for (const json& c : special["norm_cdf"]) {
    // 1e-13 relative: erfc itself is good to a few ulps, but rounding its argument z / sqrt 2
    // is amplified by the tail's slope, ~2 x^2 ulps: at z = -12 (x^2 = 72) that is ~3e-14.
    expect_rel(normal_cdf(c["z"].get<double>()), c["cdf"].get<double>(), 1e-13, 1e-300, "Phi(" + c.dump() + ")");
  }
}

TEST(DeLong, CompareModelsRecordsRefusalsInsteadOfThrowing) {
  const json g = golden("random200");
  const auto label = g["label"].get<std::vector<int>>();
  const Comparison c = compare_models(doubles(g["score_a"]), doubles(g["score_b"]), label);
  EXPECT_TRUE(c.delong_error.empty());
  EXPECT_TRUE(c.chi2_confusion_error.empty());
  EXPECT_EQ(c.mcnemar.b, g["mcnemar"]["b"].get<int64_t>());
  EXPECT_NEAR(c.delong.p_value, g["delong"]["p"].get<double>(), 1e-10 * g["delong"]["p"].get<double>());  // as above
  const json j = to_json(c);
  for (const char* key : {"mcnemar", "chi2_confusion_2x4", "chi2_correct_2x2", "delong"}) EXPECT_TRUE(j.contains(key));

  const json s = golden("single_class");
  const Comparison one =
      compare_models(doubles(s["score_a"]), doubles(s["score_b"]), s["label"].get<std::vector<int>>());
  EXPECT_FALSE(one.delong_error.empty());
  EXPECT_FALSE(one.chi2_confusion_error.empty());  // zero expected counts (no positives)
  EXPECT_TRUE(one.chi2_correct_error.empty());
  EXPECT_TRUE(std::isnan(one.delong.p_value));
  const json jo = to_json(one);
  EXPECT_TRUE(jo["delong"].contains("error"));
  EXPECT_TRUE(jo["delong"]["p_value"].is_null());
  EXPECT_EQ(jo.dump().find("NaN"), std::string::npos);
}

}  // namespace
}  // namespace lb::eval
