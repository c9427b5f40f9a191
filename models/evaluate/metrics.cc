// evaluate/metrics.cc: see metrics.h. Follows sklearn.metrics.roc_curve / roc_auc_score and
// Efron & Tibshirani's percentile bootstrap.
#include "models/evaluate/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "base/common.h"

namespace lb::eval {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

double ratio(int64_t num, int64_t den) { return den > 0 ? static_cast<double>(num) / static_cast<double>(den) : kNaN; }

void check_inputs(const char* where, const std::vector<double>& score, const std::vector<int>& label) {
  LB_CHECK(score.size() == label.size(),
           where << ": " << score.size() << " scores but " << label.size() << " labels; pass one score per label");
  LB_CHECK(!score.empty(), where << ": no samples");
  for (size_t i = 0; i < label.size(); ++i) {
    LB_CHECK(label[i] == 0 || label[i] == 1, where << ": label[" << i << "] = " << label[i] << ", expected 0 or 1");
    LB_CHECK(!std::isnan(score[i]), where << ": score[" << i << "] is NaN; check the model output");
  }
}

// Index of the p-quantile of sorted values with numpy's default ("linear") interpolation:
// position p * (n - 1), interpolated between its two neighbours.
double quantile_sorted(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return kNaN;
  const double pos = p * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double frac = pos - static_cast<double>(lo);
  return sorted[lo] + frac * (sorted[hi] - sorted[lo]);
}

// Uniform index in [0, n) by rejection, not std::uniform_int_distribution: the standard leaves
// that distribution's algorithm to each library, so the same seed would give different
// intervals under libstdc++ and libc++. This one is fully specified.
uint64_t draw_index(std::mt19937_64& rng, uint64_t n) {
  const uint64_t limit = std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % n;
  uint64_t r;
  do r = rng();
  while (r >= limit);
  return r % n;
}

}  // namespace

// ---- confusion matrix --------------------------------------------------------------------------------

Confusion confusion_at(const std::vector<double>& score, const std::vector<int>& label, double threshold) {
  check_inputs("confusion_at", score, label);
  Confusion cm;
  for (size_t i = 0; i < score.size(); ++i) {
    const bool pred = score[i] > threshold;
    if (label[i] == 1)
      (pred ? cm.tp : cm.fn)++;
    else
      (pred ? cm.fp : cm.tn)++;
  }
  return cm;
}

ClassMetrics class_metrics(const Confusion& cm) {
  ClassMetrics m;
  m.accuracy = ratio(cm.tp + cm.tn, cm.total());
  m.sensitivity = ratio(cm.tp, cm.tp + cm.fn);
  m.specificity = ratio(cm.tn, cm.tn + cm.fp);
  m.ppv = ratio(cm.tp, cm.tp + cm.fp);
  m.npv = ratio(cm.tn, cm.tn + cm.fn);
  m.f1 = ratio(2 * cm.tp, 2 * cm.tp + cm.fp + cm.fn);
  m.balanced_accuracy = 0.5 * (m.sensitivity + m.specificity);  // NaN propagates
  return m;
}

std::vector<int> correctness(const std::vector<double>& score, const std::vector<int>& label, double threshold) {
  check_inputs("correctness", score, label);
  std::vector<int> out(score.size());
  for (size_t i = 0; i < score.size(); ++i) out[i] = (score[i] > threshold ? 1 : 0) == label[i] ? 1 : 0;
  return out;
}

// ---- ROC -----------------------------------------------------------------------------------------------

RocCurve roc_curve(const std::vector<double>& score, const std::vector<int>& label) {
  check_inputs("roc_curve", score, label);
  RocCurve roc;
  roc.positives = std::count(label.begin(), label.end(), 1);
  roc.negatives = static_cast<int64_t>(label.size()) - roc.positives;
  LB_CHECK(roc.positives > 0 && roc.negatives > 0, "roc_curve: the labels hold only class "
                                                       << (roc.positives > 0 ? 1 : 0)
                                                       << "; a ROC curve needs both classes (use a split with both)");
  std::vector<size_t> order(score.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score[a] > score[b]; });

  roc.thresholds.push_back(kInf);
  roc.tps.push_back(0);
  roc.fps.push_back(0);
  int64_t tps = 0, fps = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    (label[order[i]] == 1 ? tps : fps)++;
    // Emit a point only after the last sample of a run of equal scores: tied samples cross
    // the threshold together, which is what makes the trapezoid count a tie as one half.
    if (i + 1 == order.size() || score[order[i + 1]] != score[order[i]]) {
      roc.thresholds.push_back(score[order[i]]);
      roc.tps.push_back(tps);
      roc.fps.push_back(fps);
    }
  }
  for (size_t k = 0; k < roc.tps.size(); ++k) {
    roc.tpr.push_back(static_cast<double>(roc.tps[k]) / static_cast<double>(roc.positives));
    roc.fpr.push_back(static_cast<double>(roc.fps[k]) / static_cast<double>(roc.negatives));
  }
  return roc;
}

double roc_auc(const RocCurve& roc) {
  LB_CHECK(roc.positives > 0 && roc.negatives > 0, "roc_auc: the ROC curve is empty (one class only)");
  // Trapezoids in integer counts: twice the area is sum (dFP) * (TP_k + TP_{k-1}), exact in
  // int64 for any split that fits in memory, then one division. No summation-order rounding.
  int64_t twice_area = 0;
  for (size_t k = 1; k < roc.tps.size(); ++k)
    twice_area += (roc.fps[k] - roc.fps[k - 1]) * (roc.tps[k] + roc.tps[k - 1]);
  return static_cast<double>(twice_area) /
         (2.0 * static_cast<double>(roc.positives) * static_cast<double>(roc.negatives));
}

double roc_auc(const std::vector<double>& score, const std::vector<int>& label) {
  return roc_auc(roc_curve(score, label));
}

// ---- threshold choice -------------------------------------------------------------------------------------

namespace {

// The `score > t` threshold that lands on ROC point k (see youden_threshold in metrics.h).
double threshold_for_index(const RocCurve& roc, size_t k) {
  const size_t last = roc.thresholds.size() - 1;
  if (k == 0) return roc.thresholds[1];
  if (k == last) return roc.thresholds[last] - 0.5;
  return 0.5 * (roc.thresholds[k] + roc.thresholds[k + 1]);
}

OperatingPoint point_at_index(const RocCurve& roc, size_t k, double threshold) {
  OperatingPoint op;
  op.index = k;
  op.threshold = threshold;
  op.roc_threshold = roc.thresholds[k];
  op.fpr = roc.fpr[k];
  op.tpr = roc.tpr[k];
  op.youden_j = op.tpr - op.fpr;
  return op;
}

}  // namespace

OperatingPoint youden_threshold(const RocCurve& roc) {
  LB_CHECK(roc.thresholds.size() >= 2, "youden_threshold: the ROC curve is empty (one class only)");
  size_t best = 0;
  int64_t best_j = std::numeric_limits<int64_t>::min();
  for (size_t k = 0; k < roc.tps.size(); ++k) {
    const int64_t j = roc.tps[k] * roc.negatives - roc.fps[k] * roc.positives;  // J * P * N
    if (j >= best_j) {  // >=: a later point on a tie has the higher sensitivity
      best_j = j;
      best = k;
    }
  }
  return point_at_index(roc, best, threshold_for_index(roc, best));
}

OperatingPoint youden_threshold(const std::vector<double>& score, const std::vector<int>& label) {
  return youden_threshold(roc_curve(score, label));
}

OperatingPoint operating_point_at(const RocCurve& roc, double threshold) {
  LB_CHECK(roc.thresholds.size() >= 2, "operating_point_at: the ROC curve is empty (one class only)");
  // score > t selects exactly the samples at ROC points whose threshold is > t; the thresholds
  // descend, so count them.
  size_t k = 0;
  while (k + 1 < roc.thresholds.size() && roc.thresholds[k + 1] > threshold) ++k;
  return point_at_index(roc, k, threshold);
}

// ---- bootstrap ------------------------------------------------------------------------------------------------

std::map<std::string, Interval> bootstrap_resamples(size_t n, const std::vector<std::string>& names,
                                                    const ResampleFn& values, const BootstrapOptions& options) {
  LB_CHECK(n > 0, "bootstrap: no samples");
  LB_CHECK(options.resamples >= 0, "bootstrap_intervals: resamples = " << options.resamples << ", expected >= 0");
  LB_CHECK(options.level > 0 && options.level < 1,
           "bootstrap_intervals: level = " << options.level << ", expected in (0, 1), e.g. 0.95");
  std::vector<size_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  std::vector<double> v(names.size(), kNaN);
  values(idx, v);
  std::map<std::string, Interval> out;
  for (size_t m = 0; m < names.size(); ++m) out[names[m]].estimate = v[m];

  std::vector<std::vector<double>> drawn(names.size());
  std::mt19937_64 rng(options.seed);
  for (int b = 0; b < options.resamples; ++b) {
    for (size_t i = 0; i < n; ++i) idx[i] = draw_index(rng, n);
    std::fill(v.begin(), v.end(), kNaN);
    values(idx, v);
    for (size_t m = 0; m < names.size(); ++m) {
      if (std::isnan(v[m]))
        out[names[m]].skipped++;
      else
        drawn[m].push_back(v[m]);
    }
  }
  const double tail = 0.5 * (1.0 - options.level);
  for (size_t m = 0; m < names.size(); ++m) {
    Interval& ci = out[names[m]];
    std::sort(drawn[m].begin(), drawn[m].end());
    ci.used = static_cast<int>(drawn[m].size());
    ci.lo = quantile_sorted(drawn[m], tail);
    ci.hi = quantile_sorted(drawn[m], 1.0 - tail);
  }
  return out;
}

std::map<std::string, Interval> bootstrap_intervals(const std::vector<double>& score, const std::vector<int>& label,
                                                    const std::vector<NamedMetric>& metrics,
                                                    const BootstrapOptions& options) {
  check_inputs("bootstrap_intervals", score, label);
  std::vector<std::string> names;
  for (const NamedMetric& m : metrics) names.push_back(m.name);
  std::vector<double> s(score.size());
  std::vector<int> l(score.size());
  auto values = [&](const std::vector<size_t>& idx, std::vector<double>& out) {
    int64_t pos = 0;
    for (size_t i = 0; i < idx.size(); ++i) {
      s[i] = score[idx[i]];
      l[i] = label[idx[i]];
      pos += l[i];
    }
    const bool both = pos > 0 && pos < static_cast<int64_t>(idx.size());
    for (size_t m = 0; m < metrics.size(); ++m)
      out[m] = (metrics[m].needs_both_classes && !both) ? kNaN : metrics[m].fn(s, l);
  };
  return bootstrap_resamples(score.size(), names, values, options);
}

Interval bootstrap_interval(const std::vector<double>& score, const std::vector<int>& label, const NamedMetric& metric,
                            const BootstrapOptions& options) {
  return bootstrap_intervals(score, label, {metric}, options).at(metric.name);
}

std::vector<NamedMetric> standard_metrics(double threshold) {
  using Field = double ClassMetrics::*;
  const std::pair<const char*, Field> fields[] = {{"accuracy", &ClassMetrics::accuracy},
                                                  {"sensitivity", &ClassMetrics::sensitivity},
                                                  {"specificity", &ClassMetrics::specificity},
                                                  {"ppv", &ClassMetrics::ppv},
                                                  {"npv", &ClassMetrics::npv},
                                                  {"f1", &ClassMetrics::f1},
                                                  {"balanced_accuracy", &ClassMetrics::balanced_accuracy}};
  std::vector<NamedMetric> out;
  for (const auto& [name, field] : fields) {
    Field f = field;
    out.push_back({name, [threshold, f](const std::vector<double>& s, const std::vector<int>& l) {
                     return class_metrics(confusion_at(s, l, threshold)).*f;
                   }});
  }
  out.push_back({"auc", [](const std::vector<double>& s, const std::vector<int>& l) { return roc_auc(s, l); }, true});
  return out;
}

// ---- one call for the CLI ---------------------------------------------------------------------------------------

Evaluation evaluate(const std::vector<double>& score, const std::vector<int>& label, double threshold,
                    const BootstrapOptions& options) {
  check_inputs("evaluate", score, label);
  Evaluation ev;
  ev.n = static_cast<int64_t>(score.size());
  ev.positives = std::count(label.begin(), label.end(), 1);
  ev.negatives = ev.n - ev.positives;
  ev.threshold = threshold;
  ev.confusion = confusion_at(score, label, threshold);
  ev.metrics = class_metrics(ev.confusion);
  ev.auc = kNaN;
  if (ev.positives > 0 && ev.negatives > 0) {
    ev.roc = roc_curve(score, label);
    ev.auc = roc_auc(ev.roc);
  }
  if (options.resamples > 0) ev.intervals = bootstrap_intervals(score, label, standard_metrics(threshold), options);
  return ev;
}

// ---- JSON -------------------------------------------------------------------------------------------------------

nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

nlohmann::json to_json(const Confusion& cm) { return {{"tp", cm.tp}, {"fp", cm.fp}, {"fn", cm.fn}, {"tn", cm.tn}}; }

nlohmann::json to_json(const ClassMetrics& m) {
  return {{"accuracy", number_or_null(m.accuracy)},
          {"sensitivity", number_or_null(m.sensitivity)},
          {"specificity", number_or_null(m.specificity)},
          {"ppv", number_or_null(m.ppv)},
          {"npv", number_or_null(m.npv)},
          {"f1", number_or_null(m.f1)},
          {"balanced_accuracy", number_or_null(m.balanced_accuracy)}};
}

nlohmann::json to_json(const RocCurve& roc) {
  nlohmann::json thresholds = nlohmann::json::array();
  for (double t : roc.thresholds) thresholds.push_back(number_or_null(t));
  return {{"fpr", roc.fpr},
          {"tpr", roc.tpr},
          {"thresholds", thresholds},
          {"positives", roc.positives},
          {"negatives", roc.negatives}};
}

nlohmann::json to_json(const OperatingPoint& op) {
  return {{"threshold", number_or_null(op.threshold)},
          {"roc_threshold", number_or_null(op.roc_threshold)},
          {"fpr", number_or_null(op.fpr)},
          {"tpr", number_or_null(op.tpr)},
          {"sensitivity", number_or_null(op.tpr)},
          {"specificity", number_or_null(1.0 - op.fpr)},
          {"youden_j", number_or_null(op.youden_j)}};
}

nlohmann::json to_json(const Interval& ci) {
  return {{"estimate", number_or_null(ci.estimate)},
          {"lo", number_or_null(ci.lo)},
          {"hi", number_or_null(ci.hi)},
          {"used", ci.used},
          {"skipped", ci.skipped}};
}

nlohmann::json to_json(const std::map<std::string, Interval>& intervals) {
  nlohmann::json ci = nlohmann::json::object();
  for (const auto& [name, interval] : intervals) ci[name] = to_json(interval);
  return ci;
}

nlohmann::json to_json(const Evaluation& ev, bool include_roc) {
  nlohmann::json j = {{"n", ev.n},
                      {"positives", ev.positives},
                      {"negatives", ev.negatives},
                      {"threshold", number_or_null(ev.threshold)},
                      {"confusion", to_json(ev.confusion)},
                      {"metrics", to_json(ev.metrics)},
                      {"auc", number_or_null(ev.auc)}};
  if (include_roc && !ev.roc.thresholds.empty()) j["roc"] = to_json(ev.roc);
  if (!ev.intervals.empty()) j["intervals"] = to_json(ev.intervals);
  return j;
}

}  // namespace lb::eval
