// evaluate/stats.cc: see stats.h. Follows scipy.stats.chi2_contingency, statsmodels' exact
// McNemar, DeLong et al. (1988) via the midrank algorithm of Sun & Xu (2014, IEEE Signal
// Processing Letters 21(11)), and the incomplete gamma function as in Numerical Recipes ch. 6.
#include "models/evaluate/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "base/common.h"

namespace lb::eval {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kZ975 = 1.959963984540054;  // Phi^-1(0.975): the two-sided 95% normal quantile
constexpr double kEps = 1e-15;               // relative convergence of the gamma series/fraction
constexpr int kMaxIter = 100000;             // both converge in O(sqrt(a)) terms; a guard only

// log(x^a e^-x / Gamma(a)): the factor shared by the series and the continued fraction.
double gamma_log_prefactor(double a, double x) { return a * std::log(x) - x - std::lgamma(a); }

// P(a, x) = gamma(a, x) / Gamma(a) by its power series, good for x < a + 1:
//   P = x^a e^-x / Gamma(a + 1) * sum_n x^n / ((a + 1) ... (a + n)).
double gamma_p_series(double a, double x) {
  double term = 1.0 / a, sum = term, ap = a;
  for (int i = 0; i < kMaxIter; ++i) {
    ap += 1.0;
    term *= x / ap;
    sum += term;
    if (std::fabs(term) < std::fabs(sum) * kEps) return sum * std::exp(gamma_log_prefactor(a, x));
  }
  LB_THROW("gamma_q: series did not converge for a = " << a << ", x = " << x);
}

// Q(a, x) by Legendre's continued fraction, good for x >= a + 1:
//   Q = x^a e^-x / Gamma(a) * 1 / (x + 1 - a - 1 (1 - a) / (x + 3 - a - 2 (2 - a) / (x + 5 - a - ...)))
// evaluated front to back with the modified Lentz method, so no term count is fixed in advance.
double gamma_q_fraction(double a, double x) {
  const double tiny = 1e-300;  // stands in for a zero denominator, as Lentz's method prescribes
  double b = x + 1.0 - a, c = 1.0 / tiny, d = 1.0 / b, h = d;
  for (int i = 1; i < kMaxIter; ++i) {
    const double an = -i * (i - a);
    b += 2.0;
    d = an * d + b;
    if (std::fabs(d) < tiny) d = tiny;
    c = b + an / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    const double step = d * c;
    h *= step;
    if (std::fabs(step - 1.0) < kEps) return std::exp(gamma_log_prefactor(a, x)) * h;
  }
  LB_THROW("gamma_q: continued fraction did not converge for a = " << a << ", x = " << x);
}

// Midranks (1-based; ties share the average of their ranks), as Sun & Xu's algorithm needs.
std::vector<double> midranks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> rank(v.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && v[order[j]] == v[order[i]]) ++j;
    const double mid = 0.5 * static_cast<double>(i + 1 + j);  // average of ranks i+1 .. j
    for (size_t k = i; k < j; ++k) rank[order[k]] = mid;
    i = j;
  }
  return rank;
}

// One model's structural components (DeLong 1988): v10[i] = P(score of positive i > a random
// negative) with ties as 1/2, v01[j] = P(a random positive > score of negative j).
struct Components {
  double auc = 0;
  std::vector<double> v10, v01;  // (m,), (n,)
};

// Sun & Xu (2014): v10_i = (rank of x_i among all - rank among positives) / n, and alike for
// v01, because a midrank difference counts the other class's samples below, ties as 1/2.
Components structural_components(const std::vector<double>& score, const std::vector<int>& label) {
  std::vector<double> x, y;  // positives (m,), negatives (n,)
  for (size_t i = 0; i < score.size(); ++i) (label[i] == 1 ? x : y).push_back(score[i]);
  const double m = static_cast<double>(x.size()), n = static_cast<double>(y.size());
  std::vector<double> z = x;
  z.insert(z.end(), y.begin(), y.end());
  const std::vector<double> tx = midranks(x), ty = midranks(y), tz = midranks(z);
  Components c;
  c.v10.resize(x.size());
  c.v01.resize(y.size());
  for (size_t i = 0; i < x.size(); ++i) c.v10[i] = (tz[i] - tx[i]) / n;
  for (size_t j = 0; j < y.size(); ++j) c.v01[j] = 1.0 - (tz[x.size() + j] - ty[j]) / m;
  c.auc = std::accumulate(c.v10.begin(), c.v10.end(), 0.0) / m;
  return c;
}

// Sample covariance (ddof 1) of two equally long vectors.
double covariance(const std::vector<double>& a, const std::vector<double>& b) {
  const double n = static_cast<double>(a.size());
  const double ma = std::accumulate(a.begin(), a.end(), 0.0) / n;
  const double mb = std::accumulate(b.begin(), b.end(), 0.0) / n;
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += (a[i] - ma) * (b[i] - mb);
  return s / (n - 1.0);
}

void check_delong_inputs(const char* where, size_t n_scores, const std::vector<int>& label) {
  LB_CHECK(n_scores == label.size(),
           where << ": " << n_scores << " scores but " << label.size() << " labels; pass one score per label");
  int64_t pos = 0;
  for (size_t i = 0; i < label.size(); ++i) {
    LB_CHECK(label[i] == 0 || label[i] == 1, where << ": label[" << i << "] = " << label[i] << ", expected 0 or 1");
    pos += label[i];
  }
  const int64_t neg = static_cast<int64_t>(label.size()) - pos;
  LB_CHECK(pos >= 2 && neg >= 2, where << ": " << pos << " positives and " << neg
                                       << " negatives; DeLong's variance needs at least 2 of each class");
}

}  // namespace

// ---- special functions -------------------------------------------------------------------------------

double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

double gamma_q(double a, double x) {
  LB_CHECK(a > 0 && x >= 0 && !std::isnan(x), "gamma_q: need a > 0 and x >= 0, got a = " << a << ", x = " << x);
  if (x == 0) return 1.0;
  if (std::isinf(x)) return 0.0;
  // Each expansion is used where it converges fast; Q from 1 - P is safe there because
  // Q is not small when x < a + 1.
  return x < a + 1.0 ? 1.0 - gamma_p_series(a, x) : gamma_q_fraction(a, x);
}

double chi2_sf(double x, double k) {
  LB_CHECK(k > 0, "chi2_sf: degrees of freedom = " << k << ", expected > 0");
  if (std::isnan(x)) return kNaN;
  if (x <= 0) return 1.0;
  return gamma_q(0.5 * k, 0.5 * x);
}

double binom_cdf(int64_t k, int64_t n, double p) {
  LB_CHECK(n >= 0 && p >= 0 && p <= 1, "binom_cdf: need n >= 0 and 0 <= p <= 1, got n = " << n << ", p = " << p);
  if (k < 0) return 0.0;
  if (k >= n) return 1.0;
  if (p == 0) return 1.0;
  if (p == 1) return 0.0;
  const double lp = std::log(p), lq = std::log1p(-p), lnf = std::lgamma(static_cast<double>(n) + 1.0);
  auto pmf = [&](int64_t i) {
    const double di = static_cast<double>(i), dn = static_cast<double>(n);
    return std::exp(lnf - std::lgamma(di + 1.0) - std::lgamma(dn - di + 1.0) + di * lp + (dn - di) * lq);
  };
  // Sum the tail on the side of k away from the mean: that tail is the smaller one, so a tiny
  // p-value keeps its relative precision instead of being 1 minus something close to 1.
  double s = 0;
  if (static_cast<double>(k) < static_cast<double>(n) * p) {
    for (int64_t i = 0; i <= k; ++i) s += pmf(i);
    return std::min(1.0, s);
  }
  for (int64_t i = k + 1; i <= n; ++i) s += pmf(i);
  return std::max(0.0, 1.0 - s);
}

// ---- McNemar -------------------------------------------------------------------------------------------

McNemarResult mcnemar_exact(const std::vector<int>& correct_a, const std::vector<int>& correct_b) {
  LB_CHECK(correct_a.size() == correct_b.size(), "mcnemar_exact: " << correct_a.size() << " vs " << correct_b.size()
                                                                   << " samples; both models must score the same set");
  McNemarResult r;
  for (size_t i = 0; i < correct_a.size(); ++i) {
    const bool a = correct_a[i] != 0, b = correct_b[i] != 0;
    if (a && b)
      r.both_right++;
    else if (a)
      r.b++;
    else if (b)
      r.c++;
    else
      r.both_wrong++;
  }
  const int64_t k = std::min(r.b, r.c);
  r.statistic = static_cast<double>(k);
  r.p_value = r.b + r.c == 0 ? 1.0 : std::min(1.0, 2.0 * binom_cdf(k, r.b + r.c, 0.5));
  return r;
}

// ---- chi-squared ---------------------------------------------------------------------------------------

ChiSquaredResult chi2_contingency(const std::vector<std::vector<double>>& table, bool correction) {
  const size_t rows = table.size(), cols = rows ? table[0].size() : 0;
  LB_CHECK(rows > 0 && cols > 0, "chi2_contingency: empty table");
  std::vector<double> row_sum(rows, 0.0), col_sum(cols, 0.0);
  double total = 0;
  for (size_t i = 0; i < rows; ++i) {
    LB_CHECK(table[i].size() == cols, "chi2_contingency: row " << i << " has " << table[i].size()
                                                               << " cells, row 0 has " << cols
                                                               << "; the table must be rectangular");
    for (size_t j = 0; j < cols; ++j) {
      LB_CHECK(table[i][j] >= 0,
               "chi2_contingency: cell (" << i << ", " << j << ") = " << table[i][j] << "; counts must be >= 0");
      row_sum[i] += table[i][j];
      col_sum[j] += table[i][j];
      total += table[i][j];
    }
  }
  ChiSquaredResult r;
  r.expected.assign(rows, std::vector<double>(cols));
  for (size_t i = 0; i < rows; ++i)
    for (size_t j = 0; j < cols; ++j) {
      r.expected[i][j] = row_sum[i] * col_sum[j] / total;
      LB_CHECK(r.expected[i][j] > 0, "chi2_contingency: the expected frequency at ("
                                         << i << ", " << j
                                         << ") is zero (a row or column of zeros); drop it or use another test");
    }
  r.dof = static_cast<int>((rows - 1) * (cols - 1));
  if (r.dof == 0) return r;  // statistic 0, p 1: a single row or column cannot differ (scipy)
  r.yates = correction && r.dof == 1;
  for (size_t i = 0; i < rows; ++i)
    for (size_t j = 0; j < cols; ++j) {
      double d = table[i][j] - r.expected[i][j];
      // Yates moves each observed count half a unit toward its expectation, never past it.
      if (r.yates) d = std::copysign(std::max(0.0, std::fabs(d) - 0.5), d);
      r.statistic += d * d / r.expected[i][j];
    }
  r.p_value = chi2_sf(r.statistic, r.dof);
  return r;
}

ChiSquaredResult chi2_confusion_table(const Confusion& a, const Confusion& b) {
  auto row = [](const Confusion& c) {
    return std::vector<double>{double(c.tp), double(c.fp), double(c.fn), double(c.tn)};
  };
  return chi2_contingency({row(a), row(b)}, true);  // dof 3: `correction` has no effect
}

ChiSquaredResult chi2_correct_table(const Confusion& a, const Confusion& b) {
  auto row = [](const Confusion& c) {
    return std::vector<double>{double(c.correct()), double(c.total() - c.correct())};
  };
  return chi2_contingency({row(a), row(b)}, true);
}

// ---- DeLong ---------------------------------------------------------------------------------------------

DeLongResult delong_test(const std::vector<double>& score_a, const std::vector<double>& score_b,
                         const std::vector<int>& label) {
  check_delong_inputs("delong_test", score_a.size(), label);
  check_delong_inputs("delong_test", score_b.size(), label);
  const Components a = structural_components(score_a, label), b = structural_components(score_b, label);
  const double m = static_cast<double>(a.v10.size()), n = static_cast<double>(a.v01.size());
  DeLongResult r;
  r.auc_a = a.auc;
  r.auc_b = b.auc;
  // S = S10 / m + S01 / n, entry by entry of the 2x2 covariance matrix.
  r.var_a = covariance(a.v10, a.v10) / m + covariance(a.v01, a.v01) / n;
  r.var_b = covariance(b.v10, b.v10) / m + covariance(b.v01, b.v01) / n;
  r.cov_ab = covariance(a.v10, b.v10) / m + covariance(a.v01, b.v01) / n;
  r.diff = r.auc_a - r.auc_b;
  const double var = std::max(0.0, r.var_a + r.var_b - 2.0 * r.cov_ab);  // >= 0 up to rounding
  r.se = std::sqrt(var);
  if (r.se > 0) {
    r.z = r.diff / r.se;
    r.p_value = std::erfc(std::fabs(r.z) / std::sqrt(2.0));  // 2 * (1 - Phi(|z|)), exact in the tail
  } else {
    r.z = r.diff == 0 ? 0.0 : std::copysign(kInf, r.diff);
    r.p_value = r.diff == 0 ? 1.0 : 0.0;
  }
  r.ci_lo = r.diff - kZ975 * r.se;
  r.ci_hi = r.diff + kZ975 * r.se;
  return r;
}

AucWithCi delong_auc_ci(const std::vector<double>& score, const std::vector<int>& label) {
  check_delong_inputs("delong_auc_ci", score.size(), label);
  const Components c = structural_components(score, label);
  const double m = static_cast<double>(c.v10.size()), n = static_cast<double>(c.v01.size());
  AucWithCi r;
  r.auc = c.auc;
  r.se = std::sqrt(covariance(c.v10, c.v10) / m + covariance(c.v01, c.v01) / n);
  r.lo = std::max(0.0, r.auc - kZ975 * r.se);
  r.hi = std::min(1.0, r.auc + kZ975 * r.se);
  return r;
}

// ---- everything at once --------------------------------------------------------------------------------

Comparison compare_models(const std::vector<double>& score_a, const std::vector<double>& score_b,
                          const std::vector<int>& label, double threshold_a, double threshold_b) {
  Comparison c;
  c.confusion_a = confusion_at(score_a, label, threshold_a);
  c.confusion_b = confusion_at(score_b, label, threshold_b);
  c.mcnemar = mcnemar_exact(correctness(score_a, label, threshold_a), correctness(score_b, label, threshold_b));
  auto guarded = [](auto&& fn, auto& out, std::string& error) {
    try {
      out = fn();
    } catch (const Error& e) {
      error = e.what();
    }
  };
  c.chi2_confusion.statistic = c.chi2_confusion.p_value = kNaN;
  c.chi2_correct.statistic = c.chi2_correct.p_value = kNaN;
  guarded([&] { return chi2_confusion_table(c.confusion_a, c.confusion_b); }, c.chi2_confusion, c.chi2_confusion_error);
  guarded([&] { return chi2_correct_table(c.confusion_a, c.confusion_b); }, c.chi2_correct, c.chi2_correct_error);
  // NaN until computed, so a refused test can never be read as "no difference".
  c.delong.auc_a = c.delong.auc_b = c.delong.diff = c.delong.z = c.delong.p_value = kNaN;
  guarded([&] { return delong_test(score_a, score_b, label); }, c.delong, c.delong_error);
  return c;
}

// ---- JSON -------------------------------------------------------------------------------------------------

nlohmann::json to_json(const McNemarResult& r) {
  return {{"test", "McNemar exact (binomial on discordant pairs)"},
          {"b_a_right_b_wrong", r.b},
          {"c_a_wrong_b_right", r.c},
          {"both_right", r.both_right},
          {"both_wrong", r.both_wrong},
          {"statistic", number_or_null(r.statistic)},
          {"p_value", number_or_null(r.p_value)}};
}

nlohmann::json to_json(const ChiSquaredResult& r) {
  return {{"statistic", number_or_null(r.statistic)},
          {"dof", r.dof},
          {"p_value", number_or_null(r.p_value)},
          {"yates", r.yates},
          {"expected", r.expected}};
}

nlohmann::json to_json(const DeLongResult& r) {
  return {{"auc_a", number_or_null(r.auc_a)},     {"auc_b", number_or_null(r.auc_b)},
          {"var_a", number_or_null(r.var_a)},     {"var_b", number_or_null(r.var_b)},
          {"cov_ab", number_or_null(r.cov_ab)},   {"diff", number_or_null(r.diff)},
          {"se", number_or_null(r.se)},           {"z", number_or_null(r.z)},
          {"p_value", number_or_null(r.p_value)}, {"ci95", {number_or_null(r.ci_lo), number_or_null(r.ci_hi)}}};
}

nlohmann::json to_json(const AucWithCi& r) {
  return {{"auc", number_or_null(r.auc)},
          {"se", number_or_null(r.se)},
          {"ci95", {number_or_null(r.lo), number_or_null(r.hi)}}};
}

nlohmann::json to_json(const Comparison& c) {
  auto with_error = [](nlohmann::json j, const std::string& error) {
    if (!error.empty()) j["error"] = error;
    return j;
  };
  return {{"confusion_a", to_json(c.confusion_a)},
          {"confusion_b", to_json(c.confusion_b)},
          {"mcnemar", to_json(c.mcnemar)},
          {"chi2_confusion_2x4", with_error(to_json(c.chi2_confusion), c.chi2_confusion_error)},
          {"chi2_correct_2x2", with_error(to_json(c.chi2_correct), c.chi2_correct_error)},
          {"delong", with_error(to_json(c.delong), c.delong_error)}};
}

}  // namespace lb::eval
