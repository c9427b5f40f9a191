// evaluate/compare_multi.h: two multi-class or multi-label models on the same split, tested
// statistically, for `lightbox compare` (the binary case is stats.h's compare_models).
//
// Both models see the same images, so every test is paired:
//   - McNemar's exact test on correctness. Multi-class: a sample is right when argmax = label
//     (MedMNIST's ACC), one test over the split. Multi-label: one test per label, a sample being
//     right on label l when (p_l > 0.5) equals its flag; no pooled test, because the labels of one
//     image are not independent observations.
//   - DeLong's test per class (one-vs-rest: class k's probability against "belongs to k"), the
//     paired test of each class's AUC difference. A class the split lacks a side of records why
//     in `error` instead of a result.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/evaluate/stats.h"
#include "models/predict.h"

namespace lb::eval {

struct ClassComparison {
  DeLongResult delong;
  std::string delong_error;  // the class lacks positives or negatives on this split, else empty
  McNemarResult mcnemar;     // multi-label only: correctness on this label
};

struct MultiComparison {
  bool multilabel = false;
  int64_t n = 0;
  double accuracy_a = 0, accuracy_b = 0;  // MedMNIST's ACC of each model
  McNemarResult mcnemar;                  // multi-class only: correctness = argmax == label
  std::vector<ClassComparison> per_class;
};

// Predictions of A and B on the same split (same labels, same output count). Throws when they
// differ in size, outputs or labels.
MultiComparison compare_multi(const lb::models::Predictions& a, const lb::models::Predictions& b);

nlohmann::json to_json(const MultiComparison& c, const std::vector<std::string>& class_names);

}  // namespace lb::eval
