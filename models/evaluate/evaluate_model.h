// evaluate_model.h: evaluating a checkpoint like a clinician would, in one call.
//
//   1. predict on val and on the evaluated split (eval mode, no tape; with EvaluateOptions::tta,
//      the mean over shifted views of each image);
//   2. choose the operating threshold on val (Youden's J), never on the split being reported;
//   3. report on the split at 0.5 (MedMNIST's ACC: softmax class-1 > 0.5) and at the val-chosen
//      threshold: confusion matrix, sensitivity, specificity, PPV, NPV, F1, balanced accuracy,
//      AUC, each with a seeded bootstrap 95% CI;
//   4. write metrics.json, roc.svg and confusion.svg into the output folder (atomically).
//
// Multi-class and multi-label models (engine/data/medmnist.h's tasks) are evaluated as MedMNIST's
// evaluator does (models/evaluate/multiclass.h): ACC and AUC with bootstrap CIs, every class
// one-vs-rest, the K x K confusion matrix of a multi-class model; no threshold is chosen (the
// prediction is the argmax, or sigmoid > 0.5 per label). metrics.json then holds "task" and
// "multi" instead of the binary entries; roc.svg has one curve per class.
#pragma once

#include <string>

#include "engine/data/medmnist.h"
#include "models/checkpoint.h"
#include "models/evaluate/metrics.h"
#include "models/evaluate/multiclass.h"
#include "models/predict.h"

namespace lb::eval {

struct ModelEvaluation {
  std::string split;
  lb::data::Task task = lb::data::Task::Binary;
  int tta = 1;                          // views averaged per prediction (models/predict.h)
  lb::models::Predictions predictions;  // on `split`
  // Binary task:
  OperatingPoint val_point;     // the Youden threshold chosen on val
  Evaluation at_half;           // at 0.5
  Evaluation at_val_threshold;  // at val_point.threshold
  // Multi-class and multi-label tasks:
  MultiEvaluation multi;
  bool binary() const { return task == lb::data::Task::Binary; }
  nlohmann::json to_json() const;
};

struct EvaluateOptions {
  std::string split = "test";
  int bootstrap = 1000;
  uint64_t seed = 0;
  bool progress = true;
  int tta = 1;  // test-time augmentation views, for val and the split alike: 1, 5 or 9 (models/predict.h)
};

ModelEvaluation evaluate_checkpoint(lb::models::Checkpoint& ck, const lb::data::Dataset& ds,
                                    const EvaluateOptions& options);

// metrics.json, roc.svg, confusion.svg in `dir` (created if missing); `title` heads the figures.
void write_evaluation(const ModelEvaluation& ev, const std::vector<std::string>& class_names, const std::string& dir,
                      const std::string& title);

// Checks that a checkpoint fits a dataset (channels, classes, task); one clear error if not.
void check_compatible(const lb::models::Checkpoint& ck, const lb::data::Dataset& ds, const std::string& weights);

// The checkpoint's task: its stored `task` entry, else what its output count and the data say.
lb::data::Task model_task(const lb::models::Checkpoint& ck, const lb::data::Dataset& ds);

}  // namespace lb::eval
