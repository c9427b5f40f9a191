// evaluate/metrics.h: clinical evaluation of one binary classifier from its scores.
//
// Inputs everywhere: `score[i]` = the model's probability of class 1 (pneumonia) for sample i,
// `label[i]` in {0, 1}, same length. Plain std::vector, no tensors: these functions run on the
// few hundred numbers a test split produces, and the CLI, the report and the tests share them.
//
// What it follows:
//   - Threshold rule: predict 1 when score > threshold, MedMNIST's ACC rule (softmax class-1 > 0.5).
//   - Rates from the confusion matrix as in any epidemiology text (sensitivity = TP/(TP+FN), ...).
//     A rate whose denominator is 0 (sensitivity on a split with no positives, PPV when nothing is
//     predicted positive) is NaN, never a silent 0: a 0 would read as "the model is useless"
//     where the truth is "this split cannot tell". JSON writers turn NaN into null.
//   - F1 = 2TP / (2TP + FP + FN), scikit-learn's count form: it is 0, not NaN, when TP = 0 but
//     there were errors; NaN only when TP = FP = FN = 0.
//   - roc_curve = sklearn.metrics.roc_curve(drop_intermediate=False): thresholds are the distinct
//     scores in descending order with +inf prepended; point k counts samples with score >=
//     thresholds[k]. roc_auc = sklearn.metrics.roc_auc_score: the trapezoid area under that curve,
//     which equals the Mann-Whitney probability P(score+ > score-) + 1/2 P(tie).
//     Both throw when the labels hold one class only (scikit-learn raises there too).
//   - Youden's J = TPR - FPR (Youden 1950), maximised over the ROC points.
//   - Bootstrap percentile intervals (Efron & Tibshirani 1993, ch. 13), numpy's default linear
//     interpolation between order statistics for the percentiles.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lb::eval {

// ---- confusion matrix and the rates from it -------------------------------------------------------

struct Confusion {
  int64_t tp = 0, fp = 0, fn = 0, tn = 0;
  int64_t total() const { return tp + fp + fn + tn; }
  int64_t correct() const { return tp + tn; }
};

// Counts at `score > threshold`. Throws on length mismatch, empty input or a label not in {0, 1}.
Confusion confusion_at(const std::vector<double>& score, const std::vector<int>& label, double threshold = 0.5);

struct ClassMetrics {
  double accuracy = 0, sensitivity = 0, specificity = 0, ppv = 0, npv = 0, f1 = 0, balanced_accuracy = 0;
};

// NaN for a rate whose denominator is zero (see the file comment).
ClassMetrics class_metrics(const Confusion& cm);

// 1 where the prediction at `score > threshold` equals the label: the input of McNemar's test.
std::vector<int> correctness(const std::vector<double>& score, const std::vector<int>& label, double threshold);

// ---- ROC ------------------------------------------------------------------------------------------

struct RocCurve {
  std::vector<double> fpr, tpr, thresholds;  // (K,) each; thresholds[0] = +inf, then descending
  std::vector<int64_t> fps, tps;             // (K,) the integer counts behind fpr and tpr
  int64_t positives = 0, negatives = 0;
};

RocCurve roc_curve(const std::vector<double>& score, const std::vector<int>& label);
double roc_auc(const RocCurve& roc);
double roc_auc(const std::vector<double>& score, const std::vector<int>& label);

// ---- threshold choice -------------------------------------------------------------------------------

struct OperatingPoint {
  double threshold = 0;      // for the `score > threshold` rule: reproduces (fpr, tpr) exactly
  double roc_threshold = 0;  // the ROC's own threshold (score >= roc_threshold), +inf at index 0
  size_t index = 0;          // into RocCurve's vectors
  double fpr = 0, tpr = 0, youden_j = 0;
};

// Maximises J = TPR - FPR over the ROC points. J is compared exactly, as the integer
// TP*N - FP*P, so float rounding cannot pick between mathematically equal points. Ties go to
// the point with the higher sensitivity: on a pneumonia screen a missed case costs more than a
// false alarm. (np.argmax(tpr - fpr) would take the first, i.e. the more specific point.)
// The returned `threshold` is the midpoint between the chosen score and the next lower distinct
// score, so it also applies to unseen scores without sitting on a training score; below the
// lowest score it is that score - 0.5, and for the +inf point it is the maximum score.
// Choose it on val and apply it to test: choosing on test would flatter the test metrics.
OperatingPoint youden_threshold(const RocCurve& roc);
OperatingPoint youden_threshold(const std::vector<double>& score, const std::vector<int>& label);

// The ROC point that `score > threshold` lands on (for marking a given threshold on a plot).
OperatingPoint operating_point_at(const RocCurve& roc, double threshold);

// ---- bootstrap confidence intervals --------------------------------------------------------------

// A metric of a (resampled) scored set. Returning NaN means "undefined on this resample": that
// resample is then skipped for this metric (and counted in Interval::skipped).
using MetricFn = std::function<double(const std::vector<double>& score, const std::vector<int>& label)>;

struct NamedMetric {
  std::string name;
  MetricFn fn;
  // AUC needs both classes. A resample drawn with a single class is skipped for such a metric
  // instead of throwing; on the seed's 624-image test split that never happens in practice,
  // but on tiny or very imbalanced sets it can, and Interval::skipped then says how often.
  bool needs_both_classes = false;
};

struct BootstrapOptions {
  int resamples = 1000;  // B
  uint64_t seed = 0;     // std::mt19937_64 seed: same seed, same intervals, on every platform
  double level = 0.95;   // two-sided coverage of the percentile interval
};

struct Interval {
  double estimate = 0;  // the metric on the full set (not the bootstrap mean)
  double lo = 0, hi = 0;
  int used = 0, skipped = 0;  // resamples that gave a value / were skipped
};

// Draws B resamples of indices with replacement (one shared set of draws for all metrics, so
// the intervals are mutually consistent) and returns each metric's percentile interval. With no
// usable resample, lo and hi are NaN.
std::map<std::string, Interval> bootstrap_intervals(const std::vector<double>& score, const std::vector<int>& label,
                                                    const std::vector<NamedMetric>& metrics,
                                                    const BootstrapOptions& options = {});

// The resampling under bootstrap_intervals, for sets that are not one (score, label) pair per
// sample (multiclass.h: a row of K probabilities, or of L labels, per sample). `values(idx, out)`
// gets one resample as n indices into the full set, drawn with replacement, and writes metric m's
// value on it to out[m] (out has names.size() entries, NaN-filled): NaN means "undefined on this
// resample", which is skipped and counted as above. The estimates come from idx = 0, 1, ..., n-1.
// Same seed, same draws as bootstrap_intervals, which is this function with (score, label) rows.
using ResampleFn = std::function<void(const std::vector<size_t>& idx, std::vector<double>& out)>;
std::map<std::string, Interval> bootstrap_resamples(size_t n, const std::vector<std::string>& names,
                                                    const ResampleFn& values, const BootstrapOptions& options = {});

// One metric, convenience form.
Interval bootstrap_interval(const std::vector<double>& score, const std::vector<int>& label, const NamedMetric& metric,
                            const BootstrapOptions& options = {});

// accuracy, sensitivity, specificity, ppv, npv, f1, balanced_accuracy at `score > threshold`,
// and auc (threshold-free, needs both classes).
std::vector<NamedMetric> standard_metrics(double threshold);

// ---- one call for the CLI ---------------------------------------------------------------------------

struct Evaluation {
  int64_t n = 0, positives = 0, negatives = 0;
  double threshold = 0.5;
  Confusion confusion;
  ClassMetrics metrics;
  double auc = 0;                             // NaN with one class
  RocCurve roc;                               // empty with one class
  std::map<std::string, Interval> intervals;  // empty when options.resamples == 0
};

// Everything above at one threshold. A single-class split still evaluates: AUC is NaN and the
// ROC is empty instead of an error, because "test split has no positives" is a fact to report.
Evaluation evaluate(const std::vector<double>& score, const std::vector<int>& label, double threshold = 0.5,
                    const BootstrapOptions& options = {});

// ---- JSON (NaN and +-inf become null) -----------------------------------------------------------------

nlohmann::json number_or_null(double v);
nlohmann::json to_json(const Confusion& cm);
nlohmann::json to_json(const ClassMetrics& m);
nlohmann::json to_json(const RocCurve& roc);  // thresholds[0] (+inf) is written as null
nlohmann::json to_json(const OperatingPoint& op);
nlohmann::json to_json(const Interval& ci);
nlohmann::json to_json(const std::map<std::string, Interval>& intervals);  // {name: interval}
nlohmann::json to_json(const Evaluation& ev, bool include_roc = true);

}  // namespace lb::eval
