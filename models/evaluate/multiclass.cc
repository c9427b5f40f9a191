// evaluate/multiclass.cc: see multiclass.h. The per-class numbers are metrics.h's binary ones on
// one-vs-rest columns; what is new here is the input checking, the argmax confusion matrix, the
// macro means and the O(N)-per-class AUC of a bootstrap resample.
#include "models/evaluate/multiclass.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "base/common.h"

namespace lb::eval {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Checks the (N, K) probability rows and returns K.
size_t check_probs(const char* where, const std::vector<std::vector<double>>& probs, size_t min_columns) {
  LB_CHECK(!probs.empty(), where << ": no samples");
  const size_t k = probs[0].size();
  LB_CHECK(k >= min_columns, where << ": rows of " << k << " probabilities; expected at least " << min_columns);
  for (size_t i = 0; i < probs.size(); ++i) {
    LB_CHECK(probs[i].size() == k,
             where << ": ragged probabilities: row " << i << " has " << probs[i].size() << " values, row 0 has " << k);
    for (size_t c = 0; c < k; ++c) {
      const double p = probs[i][c];
      LB_CHECK(!std::isnan(p), where << ": probs[" << i << "][" << c << "] is NaN; check the model output");
      LB_CHECK(p >= 0 && p <= 1, where << ": probs[" << i << "][" << c << "] = " << p
                                       << " is not a probability in [0, 1]; pass softmax/sigmoid outputs, not logits");
    }
  }
  return k;
}

void check_class_labels(const char* where, const std::vector<std::vector<double>>& probs,
                        const std::vector<int>& label) {
  const size_t k = check_probs(where, probs, 2);
  LB_CHECK(label.size() == probs.size(), where << ": " << probs.size() << " probability rows but " << label.size()
                                               << " labels; pass one label per row");
  for (size_t i = 0; i < label.size(); ++i)
    LB_CHECK(label[i] >= 0 && static_cast<size_t>(label[i]) < k, where << ": label[" << i << "] = " << label[i]
                                                                       << " is out of range for " << k
                                                                       << " classes [0, " << k - 1 << "]");
}

void check_multilabels(const char* where, const std::vector<std::vector<double>>& probs,
                       const std::vector<std::vector<int>>& labels) {
  const size_t l = check_probs(where, probs, 1);
  LB_CHECK(labels.size() == probs.size(), where << ": " << probs.size() << " probability rows but " << labels.size()
                                                << " label rows; pass one label row per sample");
  for (size_t i = 0; i < labels.size(); ++i) {
    LB_CHECK(labels[i].size() == l, where << ": ragged labels: row " << i << " has " << labels[i].size()
                                          << " labels, the probabilities have " << l);
    for (size_t c = 0; c < l; ++c)
      LB_CHECK(labels[i][c] == 0 || labels[i][c] == 1,
               where << ": labels[" << i << "][" << c << "] = " << labels[i][c] << ", expected 0 or 1");
  }
}

// Class k's one-vs-rest inputs: its probability column and its 0/1 "is class k" column.
struct Column {
  std::vector<double> score;
  std::vector<int> y;
};

PerClassResult per_class_result(const Column& col, const Confusion& cm) {
  PerClassResult r;
  r.positives = std::count(col.y.begin(), col.y.end(), 1);
  r.negatives = static_cast<int64_t>(col.y.size()) - r.positives;
  r.one_vs_rest = cm;
  r.metrics = class_metrics(cm);
  r.auc = kNaN;
  if (r.positives > 0 && r.negatives > 0) {
    r.roc = roc_curve(col.score, col.y);
    r.auc = roc_auc(r.roc);
  }
  return r;
}

// The macro AUC of a resample given as multiplicities (count[j] = how often sample j was drawn),
// over the classes defined on the full set. Each class's samples are sorted once, by descending
// score; a resample then walks that order summing counts, and closes a trapezoid at the end of
// each run of equal scores: the integer sum of roc_auc, so the same double as roc_auc on the
// materialised resample.
class ResampledAuc {
 public:
  ResampledAuc(const std::vector<Column>& columns, const std::vector<PerClassResult>& per_class) : columns_(columns) {
    for (size_t c = 0; c < columns.size(); ++c) {
      if (std::isnan(per_class[c].auc)) continue;
      std::vector<size_t> order(columns[c].score.size());
      std::iota(order.begin(), order.end(), 0);
      const std::vector<double>& s = columns[c].score;
      std::sort(order.begin(), order.end(), [&s](size_t a, size_t b) { return s[a] > s[b]; });
      classes_.push_back(c);
      orders_.push_back(std::move(order));
    }
  }

  // NaN when no class is defined, or when the resample lacks either side of a defined class.
  double operator()(const std::vector<int64_t>& count) const {
    if (classes_.empty()) return kNaN;
    double sum = 0;
    for (size_t i = 0; i < classes_.size(); ++i) {
      const double auc = class_auc(columns_[classes_[i]], orders_[i], count);
      if (std::isnan(auc)) return kNaN;
      sum += auc;
    }
    return sum / static_cast<double>(classes_.size());
  }

 private:
  static double class_auc(const Column& col, const std::vector<size_t>& order, const std::vector<int64_t>& count) {
    int64_t tps = 0, fps = 0, prev_tps = 0, prev_fps = 0, twice_area = 0;
    for (size_t k = 0; k < order.size(); ++k) {
      const size_t j = order[k];
      (col.y[j] == 1 ? tps : fps) += count[j];
      if (k + 1 == order.size() || col.score[order[k + 1]] != col.score[j]) {
        twice_area += (fps - prev_fps) * (tps + prev_tps);
        prev_tps = tps;
        prev_fps = fps;
      }
    }
    if (tps == 0 || fps == 0) return kNaN;
    return static_cast<double>(twice_area) / (2.0 * static_cast<double>(tps) * static_cast<double>(fps));
  }

  const std::vector<Column>& columns_;
  std::vector<size_t> classes_;
  std::vector<std::vector<size_t>> orders_;
};

// The AUC summary and the bootstrap, shared by both tasks. correct[j] = how many of sample j's
// `per_sample` decisions were right (1 decision per sample for multi-class, L for multi-label).
void finish(MultiEvaluation& ev, const std::vector<Column>& columns, const std::vector<int64_t>& correct,
            int64_t per_sample, const BootstrapOptions& options) {
  double sum = 0;
  int64_t defined = 0;
  for (const PerClassResult& r : ev.per_class) {
    if (std::isnan(r.auc)) continue;
    sum += r.auc;
    ++defined;
  }
  ev.undefined_auc_classes = ev.classes - defined;
  ev.auc = defined > 0 ? sum / static_cast<double>(defined) : kNaN;
  if (options.resamples == 0) return;

  const ResampledAuc resampled_auc(columns, ev.per_class);
  const size_t n = correct.size();
  std::vector<int64_t> count(n);
  const double decisions = static_cast<double>(n) * static_cast<double>(per_sample);
  auto values = [&](const std::vector<size_t>& idx, std::vector<double>& out) {
    std::fill(count.begin(), count.end(), 0);
    for (size_t j : idx) ++count[j];
    int64_t right = 0;
    for (size_t j = 0; j < n; ++j) right += count[j] * correct[j];
    out[0] = static_cast<double>(right) / decisions;
    out[1] = resampled_auc(count);
  };
  ev.intervals = bootstrap_resamples(n, {"accuracy", "auc"}, values, options);
}

}  // namespace

int argmax(const std::vector<double>& row) {
  LB_CHECK(!row.empty(), "argmax: empty row");
  return static_cast<int>(std::max_element(row.begin(), row.end()) - row.begin());  // the first maximum
}

MultiEvaluation evaluate_multiclass(const std::vector<std::vector<double>>& probs, const std::vector<int>& label,
                                    const BootstrapOptions& options) {
  check_class_labels("evaluate_multiclass", probs, label);
  const size_t n = probs.size(), k = probs[0].size();
  MultiEvaluation ev;
  ev.n = static_cast<int64_t>(n);
  ev.classes = static_cast<int64_t>(k);
  ev.confusion.assign(k, std::vector<int64_t>(k, 0));
  std::vector<int64_t> correct(n);
  std::vector<Column> columns(k, Column{std::vector<double>(n), std::vector<int>(n)});
  int64_t right = 0;
  for (size_t i = 0; i < n; ++i) {
    const int pred = argmax(probs[i]);
    ev.confusion[label[i]][pred]++;
    correct[i] = pred == label[i] ? 1 : 0;
    right += correct[i];
    for (size_t c = 0; c < k; ++c) {
      columns[c].score[i] = probs[i][c];
      columns[c].y[i] = label[i] == static_cast<int>(c) ? 1 : 0;
    }
  }
  ev.accuracy = static_cast<double>(right) / static_cast<double>(n);
  for (size_t c = 0; c < k; ++c) {
    // One-vs-rest counts from the K x K matrix: TP on the diagonal, FN the rest of its row,
    // FP the rest of its column, TN everything else.
    Confusion cm;
    int64_t row = 0, col = 0;
    for (size_t j = 0; j < k; ++j) row += ev.confusion[c][j], col += ev.confusion[j][c];
    cm.tp = ev.confusion[c][c];
    cm.fn = row - cm.tp;
    cm.fp = col - cm.tp;
    cm.tn = ev.n - cm.tp - cm.fn - cm.fp;
    ev.per_class.push_back(per_class_result(columns[c], cm));
  }
  finish(ev, columns, correct, 1, options);
  return ev;
}

MultiEvaluation evaluate_multilabel(const std::vector<std::vector<double>>& probs,
                                    const std::vector<std::vector<int>>& labels, const BootstrapOptions& options) {
  check_multilabels("evaluate_multilabel", probs, labels);
  const size_t n = probs.size(), l = probs[0].size();
  MultiEvaluation ev;
  ev.multilabel = true;
  ev.n = static_cast<int64_t>(n);
  ev.classes = static_cast<int64_t>(l);
  std::vector<Column> columns(l, Column{std::vector<double>(n), std::vector<int>(n)});
  std::vector<int64_t> correct(n, 0);
  for (size_t i = 0; i < n; ++i) {
    for (size_t c = 0; c < l; ++c) {
      columns[c].score[i] = probs[i][c];
      columns[c].y[i] = labels[i][c];
      correct[i] += (probs[i][c] > 0.5 ? 1 : 0) == labels[i][c] ? 1 : 0;
    }
  }
  for (size_t c = 0; c < l; ++c)
    ev.per_class.push_back(per_class_result(columns[c], confusion_at(columns[c].score, columns[c].y, 0.5)));
  // MedMNIST averages the L per-label accuracies; every label has the same N samples, so that
  // mean is the share of all N * L decisions that were right, computed here from one integer.
  const int64_t right = std::accumulate(correct.begin(), correct.end(), int64_t{0});
  ev.accuracy = static_cast<double>(right) / (static_cast<double>(n) * static_cast<double>(l));
  finish(ev, columns, correct, static_cast<int64_t>(l), options);
  return ev;
}

std::vector<int> multiclass_correctness(const std::vector<std::vector<double>>& probs, const std::vector<int>& label) {
  check_class_labels("multiclass_correctness", probs, label);
  std::vector<int> out(probs.size());
  for (size_t i = 0; i < probs.size(); ++i) out[i] = argmax(probs[i]) == label[i] ? 1 : 0;
  return out;
}

nlohmann::json to_json(const MultiEvaluation& ev, bool include_roc) {
  nlohmann::json j = {{"task", ev.multilabel ? "multi-label" : "multi-class"},
                      {"n", ev.n},
                      {"classes", ev.classes},
                      {"accuracy", number_or_null(ev.accuracy)},
                      {"auc", number_or_null(ev.auc)},
                      {"undefined_auc_classes", ev.undefined_auc_classes}};
  if (!ev.multilabel) j["confusion"] = ev.confusion;
  nlohmann::json per_class = nlohmann::json::array();
  for (size_t c = 0; c < ev.per_class.size(); ++c) {
    const PerClassResult& r = ev.per_class[c];
    nlohmann::json pc = {{"class", c},
                         {"positives", r.positives},
                         {"negatives", r.negatives},
                         {"auc", number_or_null(r.auc)},
                         {"confusion", to_json(r.one_vs_rest)},
                         {"metrics", to_json(r.metrics)}};
    if (include_roc && !r.roc.thresholds.empty()) pc["roc"] = to_json(r.roc);
    per_class.push_back(pc);
  }
  j["per_class"] = per_class;
  if (!ev.intervals.empty()) j["intervals"] = to_json(ev.intervals);
  return j;
}

}  // namespace lb::eval
