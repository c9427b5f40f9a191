// compare_multi.cc: see compare_multi.h.
#include "models/evaluate/compare_multi.h"

#include <algorithm>
#include <cmath>

#include "models/evaluate/metrics.h"
#include "models/evaluate/multiclass.h"

namespace lb::eval {

namespace {

// Whether each prediction of `p` is right: per sample (argmax = label), or on label `k` of a
// multi-label model (p_k > 0.5 equals the flag).
std::vector<int> right_answers(const lb::models::Predictions& p, int64_t k) {
  std::vector<int> right(p.size());
  if (p.multilabel) {
    const std::vector<double> s = p.scores_of(k);
    const std::vector<int> y = p.one_vs_rest_labels(k);
    for (size_t i = 0; i < right.size(); ++i) right[i] = (s[i] > 0.5) == (y[i] == 1);
    return right;
  }
  return multiclass_correctness(p.prob_rows(), p.int_labels());
}

double mean_of(const std::vector<int>& v) {
  double s = 0;
  for (int x : v) s += x;
  return v.empty() ? NAN : s / static_cast<double>(v.size());
}

}  // namespace

MultiComparison compare_multi(const lb::models::Predictions& a, const lb::models::Predictions& b) {
  const int64_t K = a.probs.size(1);
  LB_CHECK(a.size() == b.size() && K == b.probs.size(1) && a.multilabel == b.multilabel,
           "compare: the two models' predictions differ in shape: " << shape_str(a.probs.shape()) << " vs "
                                                                    << shape_str(b.probs.shape()));
  LB_CHECK(
      a.labels.shape() == b.labels.shape() &&
          std::equal(a.labels.data<int64_t>(), a.labels.data<int64_t>() + a.labels.numel(), b.labels.data<int64_t>()),
      "compare: the two predictions are not of the same split (their labels differ)");
  MultiComparison c;
  c.multilabel = a.multilabel;
  c.n = a.size();
  double acc_a = 0, acc_b = 0;
  for (int64_t k = 0; k < K; ++k) {
    ClassComparison cc;
    const std::vector<int> y = a.one_vs_rest_labels(k);
    try {
      cc.delong = delong_test(a.scores_of(k), b.scores_of(k), y);
    } catch (const Error& e) {
      cc.delong_error = e.what();
      cc.delong.auc_a = cc.delong.auc_b = cc.delong.diff = cc.delong.p_value = NAN;
    }
    if (c.multilabel) {
      const std::vector<int> ra = right_answers(a, k), rb = right_answers(b, k);
      cc.mcnemar = mcnemar_exact(ra, rb);
      acc_a += mean_of(ra);
      acc_b += mean_of(rb);
    }
    c.per_class.push_back(std::move(cc));
  }
  if (c.multilabel) {
    c.accuracy_a = acc_a / static_cast<double>(K);
    c.accuracy_b = acc_b / static_cast<double>(K);
  } else {
    const std::vector<int> ra = right_answers(a, -1), rb = right_answers(b, -1);
    c.mcnemar = mcnemar_exact(ra, rb);
    c.accuracy_a = mean_of(ra);
    c.accuracy_b = mean_of(rb);
  }
  return c;
}

nlohmann::json to_json(const MultiComparison& c, const std::vector<std::string>& names) {
  nlohmann::json j = {{"task", c.multilabel ? "multi-label, binary-class" : "multi-class"},
                      {"n", c.n},
                      {"accuracy_a", number_or_null(c.accuracy_a)},
                      {"accuracy_b", number_or_null(c.accuracy_b)}};
  if (!c.multilabel) j["mcnemar"] = to_json(c.mcnemar);
  j["per_class"] = nlohmann::json::array();
  for (size_t k = 0; k < c.per_class.size(); ++k) {
    const ClassComparison& cc = c.per_class[k];
    nlohmann::json row = {{"class", k}, {"name", k < names.size() ? names[k] : "class " + std::to_string(k)}};
    row["delong"] = to_json(cc.delong);
    if (!cc.delong_error.empty()) row["delong"]["error"] = cc.delong_error;
    if (c.multilabel) row["mcnemar"] = to_json(cc.mcnemar);
    j["per_class"].push_back(row);
  }
  return j;
}

}  // namespace lb::eval
