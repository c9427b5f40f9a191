// evaluate_model.h: evaluating a checkpoint like a clinician would, in one call.
//
//   1. predict on val and on the evaluated split (eval mode, no tape);
//   2. choose the operating threshold on val (Youden's J), never on the split being reported;
//   3. report on the split at 0.5 (MedMNIST's ACC: softmax class-1 > 0.5) and at the val-chosen
//      threshold: confusion matrix, sensitivity, specificity, PPV, NPV, F1, balanced accuracy,
//      AUC, each with a seeded bootstrap 95% CI;
//   4. write metrics.json, roc.svg and confusion.svg into the output folder (atomically).
#pragma once

#include <string>

#include "engine/data/medmnist.h"
#include "models/checkpoint.h"
#include "models/evaluate/metrics.h"
#include "models/predict.h"

namespace lb::eval {

struct ModelEvaluation {
  std::string split;
  lb::models::Predictions predictions;  // on `split`
  OperatingPoint val_point;             // the Youden threshold chosen on val
  Evaluation at_half;                   // at 0.5
  Evaluation at_val_threshold;          // at val_point.threshold
  nlohmann::json to_json() const;
};

struct EvaluateOptions {
  std::string split = "test";
  int bootstrap = 1000;
  uint64_t seed = 0;
  bool progress = true;
};

ModelEvaluation evaluate_checkpoint(lb::models::Checkpoint& ck, const lb::data::Dataset& ds,
                                    const EvaluateOptions& options);

// metrics.json, roc.svg, confusion.svg in `dir` (created if missing); `title` heads the figures.
void write_evaluation(const ModelEvaluation& ev, const std::vector<std::string>& class_names, const std::string& dir,
                      const std::string& title);

// Checks that a checkpoint fits a dataset (channels, classes, binary task); one clear error if not.
void check_compatible(const lb::models::Checkpoint& ck, const lb::data::Dataset& ds, const std::string& weights);

}  // namespace lb::eval
