// evaluate/multiclass.h: evaluation of multi-class and multi-label classifiers, the MedMNIST way.
//
// metrics.h scores one binary classifier. Most MedMNIST sets are not binary: PathMNIST has 9
// classes, OrganAMNIST 11, RetinaMNIST 5 ordinal grades (scored as plain multi-class, as MedMNIST
// does), and ChestMNIST is multi-label (14 findings, each its own sigmoid output). The numbers
// MedMNIST's papers report come from medmnist/evaluator.py (getACC, getAUC), and these follow it:
//
//   multi-class, probs (N, K) softmax rows, label[i] in [0, K):
//     ACC = accuracy of argmax(probs[i]) (the first maximum wins a tie, as np.argmax)
//     AUC = mean over classes k of roc_auc(label == k, probs[:, k]), one-vs-rest
//           (= sklearn roc_auc_score(multi_class="ovr", average="macro"))
//   multi-label, probs (N, L) sigmoid outputs, labels (N, L) in {0, 1}:
//     ACC = mean over labels l of the accuracy of `probs[i][l] > 0.5` against labels[i][l]
//     AUC = mean over labels l of roc_auc(labels[:, l], probs[:, l])
//
// Every per-class piece is metrics.h's binary one, applied one-vs-rest: roc_curve / roc_auc on
// (class k's probability, label == k), Confusion and class_metrics on the class's prediction
// (multi-class: argmax == k; multi-label: probs > 0.5, i.e. confusion_at), and the bootstrap's
// draws (bootstrap_resamples), so the binary and the multi-class numbers share one definition.
//
// Undefined AUCs. A class with no positives (a rare class missing from a small split) or no
// negatives has no ROC curve. scikit-learn refuses it (older versions raise ValueError, recent
// ones warn and return NaN), so MedMNIST's evaluator either stops or reports NaN. Here that class's auc is NaN and
// its roc empty, the reported AUC is the mean over the classes where it is defined, and
// undefined_auc_classes says how many were left out: a report must print that count beside the
// AUC, because a mean over 13 of 14 labels is not the number MedMNIST's tables hold. With no
// class defined the AUC is NaN. Rates with a zero denominator are NaN as in metrics.h; JSON
// writes every NaN as null.
//
// Bootstrap. Resamples of samples (whole rows), B draws with metrics.h's seeded generator, so
// the same seed gives the same intervals; percentile intervals of "accuracy" and "auc". The AUC
// of a resample averages over the same classes as the estimate (those defined on the full set):
// a resample that lacks one of them would otherwise average over fewer classes, a different
// quantity, so such a resample is skipped for "auc" and counted in Interval::skipped, the binary
// rule (NamedMetric::needs_both_classes) applied per class. Each resample's per-class AUC is
// computed from multiplicities on the full set's sort order, O(N) per class, with the same
// integer trapezoids as roc_auc, so it equals roc_auc on the materialised resample exactly.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/evaluate/metrics.h"

namespace lb::eval {

// One class (multi-class) or one label (multi-label) against the rest.
struct PerClassResult {
  int64_t positives = 0, negatives = 0;  // samples of this class / of the others
  double auc = 0;                        // NaN when positives or negatives is 0
  RocCurve roc;                          // empty then
  Confusion one_vs_rest;                 // the class's prediction against "is this class"
  ClassMetrics metrics;                  // class_metrics(one_vs_rest): per-class sensitivity, PPV, ...
};

struct MultiEvaluation {
  bool multilabel = false;
  int64_t n = 0;                      // samples
  int64_t classes = 0;                // K classes, or L labels
  double accuracy = 0;                // MedMNIST's ACC (see the file comment)
  double auc = 0;                     // MedMNIST's AUC over the classes where it is defined; NaN if none is
  int64_t undefined_auc_classes = 0;  // classes left out of `auc` (no positives or no negatives)
  // Multi-class only (empty for multi-label): K x K counts, rows = true class, columns = predicted
  // class (argmax), as sklearn.metrics.confusion_matrix(label, argmax, labels=range(K)).
  std::vector<std::vector<int64_t>> confusion;
  std::vector<PerClassResult> per_class;      // K (or L) entries, in class order
  std::map<std::string, Interval> intervals;  // "accuracy" and "auc"; empty when resamples == 0
};

// probs: N rows of K >= 2 class probabilities in [0, 1] (softmax outputs); label[i] in [0, K).
// Throws one line on empty input, ragged rows, a row count that differs from the labels, a
// label out of range, or a probability that is NaN or outside [0, 1].
MultiEvaluation evaluate_multiclass(const std::vector<std::vector<double>>& probs, const std::vector<int>& label,
                                    const BootstrapOptions& options = {});

// probs: N rows of L >= 1 probabilities in [0, 1] (sigmoid outputs); labels: N rows of L values in
// {0, 1}. Predicted positive where probs > 0.5 (MedMNIST's threshold). Throws as above, and on a
// label that is not 0 or 1 or a label row whose length differs from its probability row.
MultiEvaluation evaluate_multilabel(const std::vector<std::vector<double>>& probs,
                                    const std::vector<std::vector<int>>& labels, const BootstrapOptions& options = {});

// The first index of the row's maximum (np.argmax).
int argmax(const std::vector<double>& row);

// 1 where argmax(probs[i]) == label[i]: the input of McNemar's test (stats.h) for two multi-class
// models. Same checks as evaluate_multiclass.
std::vector<int> multiclass_correctness(const std::vector<std::vector<double>>& probs, const std::vector<int>& label);

// {"task": "multi-class" | "multi-label", "n", "classes", "accuracy", "auc",
//  "undefined_auc_classes", "confusion" (multi-class only), "per_class": [{"class", "positives",
//  "negatives", "auc", "confusion", "metrics", "roc" (when include_roc and defined)}],
//  "intervals" (when bootstrapped)}. NaN and +-inf become null, as in metrics.h.
nlohmann::json to_json(const MultiEvaluation& ev, bool include_roc = true);

}  // namespace lb::eval
