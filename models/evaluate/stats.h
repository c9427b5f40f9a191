// evaluate/stats.h: statistical tests that compare two classifiers A and B scored on the same
// samples, and the special functions they need.
//
// Which test answers "is B different from A?" on one shared test set:
//
//   McNemar's exact test (McNemar 1947; statsmodels.stats.contingency_tables.mcnemar(exact=True))
//     is the right test for accuracy. Each image is scored by both models, so the data are
//     *pairs*. Only discordant pairs carry information: b = A right & B wrong, c = A wrong &
//     B right. Under H0 (equal error rates) each discordant pair is a fair coin, so
//     p = min(1, 2 * BinomCDF(min(b, c); b + c, 1/2)).
//
//   DeLong's test (DeLong, DeLong & Clarke-Pearson 1988) is the paired test for AUC: both AUCs
//     are Mann-Whitney statistics over the same positives and negatives, so they are correlated
//     and the variance of their difference needs their covariance. Computed with the midrank
//     algorithm of Sun & Xu (2014), O(n log n), which gives the same numbers as the O(m n)
//     double sum of the 1988 paper (the golden file checks one against the other).
//
//   The chi-squared test of homogeneity (scipy.stats.chi2_contingency) is what the seed report
//     used, on the 2x4 table [[TP, FP, FN, TN] of A; [TP, FP, FN, TN] of B]. It is offered here
//     to reproduce and explain that number, and it is NOT a proper test for this question:
//       1. It assumes the two rows are independent samples. Here both rows count the SAME 624
//          images, so they are strongly positively correlated; the test compares the two
//          marginal distributions as if they came from different patients, overstates the
//          noise, and is far too conservative (p near 1 even for a real difference).
//       2. In the 2x4 table the positives TP+FN and negatives FP+TN are fixed by the test set,
//          identical in both rows, so half of what the table "tests" cannot differ by design.
//       3. The 2x2 correct/incorrect version has dof 1, where scipy applies Yates' continuity
//          correction: each |O - E| shrinks by min(0.5, |O - E|). When the accuracies differ by
//          a single image, every |O - E| is exactly 0.5 and the statistic becomes exactly 0.
//     That is the seed's "P=1": untuned 545/624 vs tuned 546/624 correct gives the table
//     [[545, 79], [546, 78]], expected [[545.5, 78.5], [545.5, 78.5]], statistic 0, p = 1.
//     McNemar on the same predictions instead asks how many images the models disagree on and
//     which way, which is the only place a difference between them can show.
//
// Special functions, written from the math (Numerical Recipes ch. 6 style, not its code):
// the normal CDF through std::erfc, the chi-squared survival function as the regularized
// upper incomplete gamma Q(k/2, x/2) (series for x < a + 1, Lentz continued fraction above),
// and the binomial CDF as a sum of exp(log pmf) with std::lgamma.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/evaluate/metrics.h"

namespace lb::eval {

// ---- special functions -----------------------------------------------------------------------------

double normal_cdf(double z);
// P(X > x) for X ~ chi-squared with k > 0 degrees of freedom; 1 for x <= 0.
double chi2_sf(double x, double k);
// Regularized upper incomplete gamma Q(a, x) = Gamma(a, x) / Gamma(a), a > 0, x >= 0.
double gamma_q(double a, double x);
// P(X <= k) for X ~ Binomial(n, p); 0 for k < 0, 1 for k >= n.
double binom_cdf(int64_t k, int64_t n, double p);

// ---- McNemar ----------------------------------------------------------------------------------------------

struct McNemarResult {
  int64_t b = 0;  // A right, B wrong
  int64_t c = 0;  // A wrong, B right
  int64_t both_right = 0, both_wrong = 0;
  double statistic = 0;  // min(b, c), as statsmodels reports for the exact test
  double p_value = 1;    // 1 when b + c == 0: the models never disagree
};

// correct_a[i], correct_b[i] in {0, 1}: whether model A / B got sample i right (see correctness()).
McNemarResult mcnemar_exact(const std::vector<int>& correct_a, const std::vector<int>& correct_b);

// ---- chi-squared test of homogeneity / independence -----------------------------------------------------

struct ChiSquaredResult {
  double statistic = 0;
  int dof = 0;
  double p_value = 1;
  bool yates = false;                         // whether the continuity correction was applied
  std::vector<std::vector<double>> expected;  // (rows, cols) row_sum * col_sum / total
};

// scipy.stats.chi2_contingency(table, correction): dof = (r - 1)(c - 1); Yates' correction when
// `correction` and dof == 1; dof == 0 gives statistic 0, p 1. Throws, as scipy does, when an
// expected frequency is zero (a row or column of zeros), naming the cell.
ChiSquaredResult chi2_contingency(const std::vector<std::vector<double>>& table, bool correction = true);

// The seed report's 2x4 table [[TP, FP, FN, TN] of A; same of B] (dof 3, no correction).
ChiSquaredResult chi2_confusion_table(const Confusion& a, const Confusion& b);
// The 2x2 table [[correct, incorrect] of A; same of B] (dof 1, Yates as scipy).
ChiSquaredResult chi2_correct_table(const Confusion& a, const Confusion& b);

// ---- DeLong ---------------------------------------------------------------------------------------------

struct DeLongResult {
  double auc_a = 0, auc_b = 0;
  double var_a = 0, var_b = 0, cov_ab = 0;  // DeLong variances of each AUC and their covariance
  double diff = 0;                          // auc_a - auc_b
  double se = 0;                            // sqrt(var_a + var_b - 2 cov_ab)
  double z = 0, p_value = 1;                // two-sided, normal approximation
  double ci_lo = 0, ci_hi = 0;              // 95% CI of diff: diff -+ 1.959964 se
};

// Throws with one class only. When the variance of the difference is 0 (e.g. two perfect
// classifiers, or identical scores), z is 0 and p is 1 if diff == 0, else z = +-inf and p = 0.
DeLongResult delong_test(const std::vector<double>& score_a, const std::vector<double>& score_b,
                         const std::vector<int>& label);

// One model: its AUC with the DeLong standard error and a 95% normal CI clipped to [0, 1].
struct AucWithCi {
  double auc = 0, se = 0, lo = 0, hi = 0;
};
AucWithCi delong_auc_ci(const std::vector<double>& score, const std::vector<int>& label);

// ---- everything at once, for `lightbox compare` -------------------------------------------------------

struct Comparison {
  Confusion confusion_a, confusion_b;
  McNemarResult mcnemar;
  ChiSquaredResult chi2_confusion, chi2_correct;
  std::string chi2_confusion_error, chi2_correct_error;  // scipy-style refusals, else empty
  DeLongResult delong;
  std::string delong_error;  // one class only, else empty
};

// Predictions at `score > threshold_x` for each model. A test that cannot be computed on this
// split records its reason in the *_error string (and NaN numbers) instead of throwing, so the
// other tests still reach the report.
Comparison compare_models(const std::vector<double>& score_a, const std::vector<double>& score_b,
                          const std::vector<int>& label, double threshold_a = 0.5, double threshold_b = 0.5);

nlohmann::json to_json(const McNemarResult& r);
nlohmann::json to_json(const ChiSquaredResult& r);
nlohmann::json to_json(const DeLongResult& r);
nlohmann::json to_json(const AucWithCi& r);
nlohmann::json to_json(const Comparison& c);

}  // namespace lb::eval
